#!/usr/bin/env python3
"""Does the Dask path pay its way? One run, one machine: an N x N float64 array, a disk footprint,
``k.filter`` on the whole array in process beside ``jf.dask.filter`` chunk by chunk (threaded
scheduler, and a ``LocalCluster`` of worker processes) and ``dask_image.ndfilters`` (the Dask
ecosystem's own filters) on the same chunks.

    python python/bench/dask_bench.py                     # 8192², 1024² chunks, disk radius 11
    python python/bench/dask_bench.py --size 4096 --repeat 3

For each kernel it prints median wall times (seconds) and the ratios to ``k.filter``, and checks
that the chunked result equals ``k.filter``'s byte for byte (threaded scheduler). The timed work is
the filter, on both schedulers and for jitfilter and dask-image alike: every chunk of the result is
made, and one value per chunk taken back (``y[::c, ::c]``), so that the result is neither shipped
to the client nor read again. On the cluster the array is made and persisted on the workers first.
The threaded scheduler's ``y.compute()`` is printed too ("gathered"): it adds dask's copy of the
chunks into one array (``concatenate3``, about 0.13 s for 512 MiB here), which a consumer of the
chunks (a store, a reduction) does not pay. (A ``.sum()`` of the result, the measure before
2026-12-06, adds a pass over the 512 MiB: about 0.16 s on 2 cores.)

Requirements: requirements-ci.txt plus ``dask-image`` (bench/requirements.txt).
"""

import argparse
import os
import statistics
import time

import numpy as np

import jitfilter as jf

KERNELS = {
    "max(w)": "maximum_filter",
    "mean(w)": "uniform",  # dask-image's mean over a footprint: correlate with weights / n
}


def disk(r):
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def median_time(f, repeat):
    f()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def dask_image_filter(x, name, fp):
    from dask_image import ndfilters

    if name == "maximum_filter":
        return ndfilters.maximum_filter(x, footprint=fp, mode="reflect")
    weights = fp.astype(np.float64) / fp.sum()
    return ndfilters.correlate(x, weights, mode="reflect")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--chunk", type=int, default=1024)
    ap.add_argument("--radius", type=int, default=11)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-cluster", action="store_true")
    args = ap.parse_args()

    import dask
    import dask.array as da

    from importlib.metadata import PackageNotFoundError, version

    try:
        di_version = version("dask-image")
    except PackageNotFoundError:
        di_version = None
    n, c, fp = args.size, args.chunk, disk(args.radius)
    print(f"jitfilter {jf.__version__}, dask {dask.__version__}, dask-image {di_version}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {n}x{n} float64 in {c}x{c} chunks, "
          f"disk({args.radius}) ({int(fp.sum())} cells), mode reflect, median of {args.repeat}\n")
    a = np.random.default_rng(0).uniform(0, 255, (n, n))
    x = da.from_array(a, chunks=c)
    rows = []
    for expr, di_name in KERNELS.items():
        k = jf.compile(expr)
        whole = k.filter(a, footprint=fp)
        t_whole = median_time(lambda: k.filter(a, footprint=fp), args.repeat)
        y = jf.dask.filter(x, k, footprint=fp)
        same = y.compute(scheduler="threads").tobytes() == whole.tobytes()
        t_threads = median_time(lambda: y[::c, ::c].compute(scheduler="threads"), args.repeat)
        t_gathered = median_time(lambda: y.compute(scheduler="threads"), args.repeat)
        row = {"expr": expr, "whole": t_whole, "threads": t_threads, "gathered": t_gathered, "same": same}
        if di_version:
            z = dask_image_filter(x, di_name, fp)
            row["di_threads"] = median_time(lambda: z[::c, ::c].compute(scheduler="threads"), args.repeat)
            row["di_err"] = float(np.nanmax(np.abs(z.compute(scheduler="threads") - whole)))
        rows.append(row)
    if not args.skip_cluster:
        from distributed import Client, LocalCluster, wait

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          memory_limit="10GiB", silence_logs=40) as cluster, Client(cluster) as client:
            xs = da.random.default_rng(0).uniform(0, 255, (n, n), chunks=c)
            xs = client.persist(xs)
            wait(xs)
            for row, (expr, di_name) in zip(rows, KERNELS.items()):
                y = jf.dask.filter(xs, expr, footprint=fp)[::c, ::c]
                row["cluster"] = median_time(lambda: y.compute(), args.repeat)
                if di_version:
                    z = dask_image_filter(xs, di_name, fp)[::c, ::c]
                    row["di_cluster"] = median_time(lambda: z.compute(), args.repeat)
    print("| kernel | `k.filter` s | `jf.dask` threads s (ratio) | threads, gathered s (ratio) "
          "| `jf.dask` cluster s (ratio) | dask-image threads s | dask-image cluster s | chunked == whole |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        w = r["whole"]
        cl = f"{r['cluster']:.2f} ({r['cluster'] / w:.2f}×)" if "cluster" in r else "—"
        dit = f"{r['di_threads']:.2f}" if "di_threads" in r else "—"
        dic = f"{r['di_cluster']:.2f}" if "di_cluster" in r else "—"
        print(f"| `{r['expr']}` | {w:.2f} | {r['threads']:.2f} ({r['threads'] / w:.2f}×) "
              f"| {r['gathered']:.2f} ({r['gathered'] / w:.2f}×) | {cl} | {dit} | {dic} "
              f"| {r['same']} |")
    for r in rows:
        if "di_err" in r:
            print(f"\n`{r['expr']}`: largest difference of dask-image's result from k.filter's: {r['di_err']:.2g}")


if __name__ == "__main__":
    main()
