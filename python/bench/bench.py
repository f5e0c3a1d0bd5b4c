#!/usr/bin/env python3
"""Benchmarks for the Python package, in one run.

1. camera (512x512 uint8, tests/data/camera.png) with disk(11) (377 cells): ``k.filter``
   (default engine and the fused one), scipy's ``generic_filter`` driving
   ``k.low_level_callable``, scipy's ``generic_filter`` driving a numba ``cfunc``
   LowLevelCallable (the usual hand-written route), scipy's specialised filter for the same
   reduction, and (once, for scale) ``generic_filter`` with a Python callable.
2. Dask: ``jitfilter.dask.filter`` on a 16384x16384 uint8 array in 2048x2048 chunks on a
   ``LocalCluster`` of 2 worker processes, with wall time and each worker's peak memory (RSS).

Requirements: numpy scipy numba dask distributed psutil pillow, and the package built
(``maturin develop --release`` in python/). Run from anywhere:

    python python/bench/bench.py                 # everything, prints markdown tables
    python python/bench/bench.py --skip-dask     # only the camera table
    python python/bench/bench.py --dask-size 8192

Timings are the median of ``--repeat`` runs after one warm-up run, in milliseconds.
"""

import argparse
import os
import platform
import resource
import statistics
import sys
import time

import numpy as np
from scipy import LowLevelCallable
from scipy import ndimage as ndi

import jitfilter as jf

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def disk(r):
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def camera():
    from PIL import Image

    return np.asarray(Image.open(os.path.join(ROOT, "tests", "data", "camera.png")).convert("L"))


def timed(fn, repeat):
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts)


# -- numba cfuncs: what people write by hand today ----------------------------------------------


def numba_callables():
    from numba import carray, cfunc, types

    sig = types.intc(types.CPointer(types.double), types.intp, types.CPointer(types.double), types.voidptr)

    @cfunc(sig)
    def nb_max(buf, n, out, _):
        v = carray(buf, (n,))
        m = v[0]
        for j in range(1, n):
            if v[j] > m or v[j] != v[j]:
                m = v[j]
        out[0] = m
        return 1

    @cfunc(sig)
    def nb_std(buf, n, out, _):
        v = carray(buf, (n,))
        s = 0.0
        for j in range(n):
            s += v[j]
        mean = s / n
        ss = 0.0
        for j in range(n):
            ss += (v[j] - mean) ** 2
        out[0] = np.sqrt(ss / n)
        return 1

    @cfunc(sig)
    def nb_mean(buf, n, out, _):
        v = carray(buf, (n,))
        s = 0.0
        for j in range(n):
            s += v[j]
        out[0] = s / n
        return 1

    @cfunc(sig)
    def nb_median(buf, n, out, _):
        v = np.sort(carray(buf, (n,)))
        out[0] = v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
        return 1

    return {
        "max(w)": LowLevelCallable(nb_max.ctypes),
        "sqrt(var(w))": LowLevelCallable(nb_std.ctypes),
        "mean(w)": LowLevelCallable(nb_mean.ctypes),
        "median(w)": LowLevelCallable(nb_median.ctypes),
    }


def specialised(expr, img, fp):
    """scipy's own fast filter for the reduction (float64 output)."""
    f = img.astype(np.float64)
    if expr == "max(w)":
        return lambda: ndi.maximum_filter(f, footprint=fp)
    if expr == "median(w)":
        return lambda: ndi.median_filter(f, footprint=fp)
    weights = fp / fp.sum()
    if expr == "mean(w)":
        return lambda: ndi.correlate(f, weights)
    if expr == "sqrt(var(w))":
        return lambda: np.sqrt(np.maximum(ndi.correlate(f * f, weights) - ndi.correlate(f, weights) ** 2, 0))
    raise KeyError(expr)


SPECIALISED_NAME = {
    "max(w)": "maximum_filter",
    "median(w)": "median_filter",
    "mean(w)": "correlate",
    "sqrt(var(w))": "2x correlate",
}


def camera_table(repeat, python_once):
    img = camera()
    fp = disk(11)
    nb = numba_callables()
    rows = []
    checks = []
    for expr in ("max(w)", "sqrt(var(w))", "mean(w)", "median(w)"):
        t0 = time.perf_counter()
        k = jf.compile(expr)
        compile_ms = (time.perf_counter() - t0) * 1e3
        llc = k.low_level_callable(footprint=fp, shape=img.shape)
        f64 = np.float64
        r = {
            "kernel": expr,
            "compile": compile_ms,
            "k.filter": timed(lambda: k.filter(img, footprint=fp, output=f64), repeat),
            "k.filter fused": timed(lambda: k.filter(img, footprint=fp, output=f64, engine="fused"), repeat),
            "k.filter 1 thread": timed(lambda: k.filter(img, footprint=fp, output=f64, threads=1), repeat),
            "generic_filter(llc)": timed(lambda: ndi.generic_filter(img, llc, footprint=fp, output=f64), repeat),
            "generic_filter(numba)": timed(lambda: ndi.generic_filter(img, nb[expr], footprint=fp, output=f64), repeat),
            "scipy specialised": timed(specialised(expr, img, fp), repeat),
            "specialised name": SPECIALISED_NAME[expr],
        }
        ours = k.filter(img, footprint=fp, output=f64)
        theirs = ndi.generic_filter(img, nb[expr], footprint=fp, output=f64)
        via_llc = ndi.generic_filter(img, llc, footprint=fp, output=f64)
        checks.append((expr, float(np.max(np.abs(ours - theirs))), float(np.max(np.abs(via_llc - theirs)))))
        rows.append(r)
    py = None
    if python_once:
        t = time.perf_counter()
        ndi.generic_filter(img, np.max, footprint=fp, output=np.float64)
        py = (time.perf_counter() - t) * 1e3
    return img, fp, rows, checks, py


def print_camera(rows, checks, py, repeat):
    print(f"### camera 512x512 uint8, disk(11) = 377 cells, float64 output, median of {repeat} (ms)\n")
    cols = ["k.filter", "k.filter fused", "k.filter 1 thread", "generic_filter(llc)", "generic_filter(numba)", "scipy specialised"]
    print("| kernel | compile | " + " | ".join(cols) + " |")
    print("| --- " * (len(cols) + 2) + "|")
    for r in rows:
        cells = [f"{r[c]:.1f}" for c in cols]
        cells[-1] += f" ({r['specialised name']})"
        print(f"| `{r['kernel']}` | {r['compile']:.2f} | " + " | ".join(cells) + " |")
    if py is not None:
        print(f"\n`generic_filter` with the Python callable `np.max`: {py:.0f} ms.")
    print("\nmax |difference| from the numba callback (k.filter, generic_filter(llc)): "
          + "; ".join(f"`{e}` {a:.1e}, {b:.1e}" for e, a, b in checks))


# -- Dask -----------------------------------------------------------------------------------


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib():
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def dask_run(size, chunk, expr, radius, workers, engine):
    import dask.array as da
    from distributed import Client, LocalCluster

    fp = disk(radius)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit="10GiB", silence_logs=40) as cluster, Client(cluster) as client:
        base = client.run(_rss_mib)
        x = da.random.default_rng(0).integers(0, 256, (size, size), chunks=chunk, dtype=np.uint8)
        y = jf.dask.filter(x, expr, footprint=fp, mode="reflect", engine=engine)
        t = time.perf_counter()
        # Reduce on the cluster (the 256 MiB result is not shipped to the client).
        total = float(y.astype(np.float64).sum().compute())
        wall = time.perf_counter() - t
        peaks = client.run(_peak_rss_mib)
        # Spot check one tile against the whole-array filter of the same neighbourhood.
        tile = (slice(5000, 5300), slice(9000, 9400))
        r = radius
        region = x[5000 - r : 5300 + r, 9000 - r : 9400 + r].compute()
        want = jf.filter(region, expr, footprint=fp, engine=engine)[r:-r, r:-r]
        ok = bool(np.array_equal(y[tile].compute(), want))
    return {
        "size": size, "chunk": chunk, "expr": expr, "radius": radius, "workers": workers, "engine": engine,
        "wall_s": wall, "checksum": total, "baseline_rss": base, "peak_rss": peaks, "tile_ok": ok,
        "nchunks": len(x.chunks[0]) * len(x.chunks[1]),
    }


def print_dask(d):
    print(f"\n### Dask: {d['size']}x{d['size']} uint8 in {d['chunk']}x{d['chunk']} chunks ({d['nchunks']}), "
          f"`{d['expr']}`, disk({d['radius']}), mode reflect, engine {d['engine']}, "
          f"LocalCluster of {d['workers']} worker processes x 1 thread\n")
    print(f"- wall time (random data generated on the workers, filtered, summed): **{d['wall_s']:.1f} s** "
          f"({d['size'] ** 2 / d['wall_s'] / 1e6:.1f} Mpixel/s)")
    for i, (addr, peak) in enumerate(sorted(d["peak_rss"].items())):
        print(f"- worker {i + 1}: peak RSS **{peak:.0f} MiB** (at start {d['baseline_rss'][addr]:.0f} MiB)")
    print(f"- a 300x400 tile equals the whole-array filter of its neighbourhood: {d['tile_ok']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-camera", action="store_true")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--no-python", action="store_true", help="skip the Python-callable generic_filter run")
    ap.add_argument("--dask-size", type=int, default=16384)
    ap.add_argument("--dask-chunk", type=int, default=2048)
    ap.add_argument("--dask-expr", default="max(w)")
    ap.add_argument("--dask-radius", type=int, default=11)
    ap.add_argument("--dask-engine", default="auto")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    import numba
    import scipy

    print(f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"numba {numba.__version__}, jitfilter {jf.__version__}; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    if not args.skip_camera:
        _, _, rows, checks, py = camera_table(args.repeat, not args.no_python)
        print_camera(rows, checks, py, args.repeat)
        sys.stdout.flush()
    if not args.skip_dask:
        d = dask_run(args.dask_size, args.dask_chunk, args.dask_expr, args.dask_radius, args.workers, args.dask_engine)
        print_dask(d)


if __name__ == "__main__":
    main()
