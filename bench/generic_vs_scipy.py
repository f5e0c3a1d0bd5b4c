#!/usr/bin/env python3
"""Issue-2 benchmark: our window loop + JIT callback vs scipy.ndimage.generic_filter driving a
compiled LowLevelCallable (numba cfunc), on camera 512x512 with disk(11), in one run.

Requirements: numpy, scipy, numba, scikit-image (pip install numpy scipy numba scikit-image).
Run from the repository root:  python3 bench/generic_vs_scipy.py [--repeat 5]
It builds `cargo build --release --bin jitfilter` and calls `jitfilter bench ... --json`
(falls back to `--example bench_generic` if the CLI is not built).
"""
import argparse, json, os, statistics, subprocess, sys, time

import numpy as np
from numba import carray, cfunc, types
from scipy import LowLevelCallable, ndimage as ndi
from skimage.io import imread
from skimage.morphology import disk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIG = types.intc(types.CPointer(types.double), types.intp, types.CPointer(types.double), types.voidptr)


def numba_max():
    @cfunc(SIG)
    def f(buf, n, out, _ud):
        v = carray(buf, (n,))
        m = v[0]
        for j in range(1, n):
            if v[j] > m or v[j] != v[j]:
                m = v[j]
        out[0] = m
        return 1
    return f


def numba_std():
    @cfunc(SIG)
    def f(buf, n, out, _ud):
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
    return f


def timed(fn, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts), min(ts)


def ours(expr, image, repeat):
    cmd = [os.path.join(ROOT, "target/release/jitfilter"), "bench", expr, image, "-f", "disk:11",
           "--repeat", str(repeat), "--json"]
    if not os.path.exists(cmd[0]):
        cmd = [os.path.join(ROOT, "target/release/examples/bench_generic"), expr, image, "11", str(repeat)]
    return json.loads(subprocess.check_output(cmd))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    image = os.path.join(ROOT, "tests/data/camera.png")
    img = imread(image).astype(np.float64)
    fp = disk(11)
    rows = []
    for name, expr, make, direct in [
        ("max", "max(w)", numba_max, lambda: ndi.maximum_filter(img, footprint=fp)),
        ("std", "std(w)", numba_std, None),
    ]:
        t = time.perf_counter()
        cf = make()
        numba_compile_ms = (time.perf_counter() - t) * 1e3
        llc = LowLevelCallable(cf.ctypes)
        ref = ndi.generic_filter(img, llc, footprint=fp)
        med, mn = timed(lambda: ndi.generic_filter(img, llc, footprint=fp), args.repeat)
        o = ours(expr, image, args.repeat)
        rows.append((name, numba_compile_ms, med, o["compile_ms"], o["filter_ms"], med / o["filter_ms"]))
    print(f"camera 512x512, disk(11) ({int(fp.sum())} px), {os.cpu_count()} cores, median of {args.repeat}")
    print(f"{'kernel':8} {'numba compile ms':>17} {'scipy+numba ms':>15} {'ours compile ms':>16} {'ours ms':>9} {'speedup':>8}")
    for r in rows:
        print(f"{r[0]:8} {r[1]:17.1f} {r[2]:15.1f} {r[3]:16.3f} {r[4]:9.1f} {r[5]:7.1f}x")


if __name__ == "__main__":
    sys.exit(main())
