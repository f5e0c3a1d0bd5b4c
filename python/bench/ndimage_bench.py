#!/usr/bin/env python3
"""jitfilter.ndimage against scipy.ndimage, function by function, in one run: camera 512x512
(uint8 and float64) with disk(11) and 3x3 footprints, a 256^3 float32 volume with ball(5)
(--volume N changes its side; scipy takes minutes for some ball(5) filters on 256^3), and a
32^4 float32 array with a 4-D ball of radius 2 and 3^4 (--hyper N changes its side).

    cd python && .venv/bin/python bench/ndimage_bench.py [--repeat 5] [--volume 128] [--hyper 24]

Prints a Markdown table of median milliseconds and the speed-up (scipy / jitfilter; > 1 means
jitfilter is faster). Every result is compared with scipy's before it is timed.
"""
import argparse
import os
import statistics
import time

import numpy as np
from scipy import ndimage as sn

import jitfilter.ndimage as jn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def disk(r):
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r


def ball(r, d=3):
    return np.sum((np.indices((2 * r + 1,) * d) - r) ** 2, axis=0) <= r * r


def timed(fn, repeat, budget_s=20.0, least_s=0.25):
    """The median of ``repeat`` timed calls after one untimed call, or of as many as fit in
    ``least_s`` seconds for fast calls (at most 200: a median of five calls of 0.5 ms read
    0.55–0.69 ms on this machine where one of 41 read 0.49), stopping after ``budget_s``. The
    untimed call wakes the thread pool and caches after the other library's calls."""
    fn()
    ts = []
    while len(ts) < repeat or (sum(ts) < least_s * 1e3 and len(ts) < 200):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
        if sum(ts) > budget_s * 1e3:
            break
    return statistics.median(ts), len(ts)


# Per number of axes: the large and small footprints' names, uniform_filter's size and
# gaussian_filter's sigma for the large case.
LARGE = {2: ("disk(11)", "3x3", 23, 2.75), 3: ("ball(5)", "3x3x3", 11, 1.25),
         4: ("ball(2) in 4-D", "3x3x3x3", 5, 0.75)}


def cases(cam, camf, vol, hyper):
    fp, fp3 = disk(11), np.ones((3, 3), bool)
    s3 = np.array([[0, 1, 0], [1, 2, 1], [0, 1, 0]])
    w23 = np.where(disk(11), 1.0 / disk(11).sum(), 0.0)
    for label, a, big, small in (("camera u8", cam, fp, fp3), ("camera f64", camf, fp, fp3),
                                 (f"volume {vol.shape[0]}^3 f32", vol, ball(5), np.ones((3,) * 3, bool)),
                                 (f"{hyper.shape[0]}^4 f32", hyper, ball(2, 4), np.ones((3,) * 4, bool))):
        d = a.ndim
        size, sigma = LARGE[d][2:]
        yield label, "maximum_filter", lambda m, a=a, f=big: m.maximum_filter(a, footprint=f), \
            lambda m, a=a, f=small: m.maximum_filter(a, footprint=f)
        yield label, "minimum_filter", lambda m, a=a, f=big: m.minimum_filter(a, footprint=f), \
            lambda m, a=a, f=small: m.minimum_filter(a, footprint=f)
        yield label, "median_filter", lambda m, a=a, f=big: m.median_filter(a, footprint=f), \
            lambda m, a=a, f=small: m.median_filter(a, footprint=f)
        yield label, "rank_filter", lambda m, a=a, f=big: m.rank_filter(a, 10, footprint=f), \
            lambda m, a=a, f=small: m.rank_filter(a, 2, footprint=f)
        yield label, "percentile_filter", lambda m, a=a, f=big: m.percentile_filter(a, 80, footprint=f), \
            lambda m, a=a, f=small: m.percentile_filter(a, 80, footprint=f)
        yield label, "uniform_filter", lambda m, a=a, n=size: m.uniform_filter(a, n), \
            lambda m, a=a: m.uniform_filter(a, 3)
        yield label, "gaussian_filter", lambda m, a=a, s=sigma: m.gaussian_filter(a, s), \
            lambda m, a=a: m.gaussian_filter(a, 0.5)
        if d == 2:
            yield label, "correlate", lambda m, a=a: m.correlate(a, w23), \
                lambda m, a=a: m.correlate(a, np.arange(9.0).reshape(3, 3))
            yield label, "grey_opening", lambda m, a=a, f=big: m.grey_opening(a, footprint=f), \
                lambda m, a=a: m.grey_opening(a, size=3)
            yield label, "white_tophat", lambda m, a=a, f=big: m.white_tophat(a, footprint=f), \
                lambda m, a=a: m.white_tophat(a, structure=s3)
            yield label, "morphological_gradient", \
                lambda m, a=a, f=big: m.morphological_gradient(a, footprint=f), \
                lambda m, a=a: m.morphological_gradient(a, size=3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--volume", type=int, default=256)
    ap.add_argument("--hyper", type=int, default=32)
    ap.add_argument("--only", default=None, help="only functions whose name contains this")
    args = ap.parse_args()
    from PIL import Image

    cam = np.asarray(Image.open(os.path.join(ROOT, "tests", "data", "camera.png")).convert("L"))
    camf = cam.astype(np.float64)
    vol = np.random.default_rng(0).uniform(0, 255, (args.volume,) * 3).astype(np.float32)
    hyper = np.random.default_rng(1).uniform(0, 255, (args.hyper,) * 4).astype(np.float32)
    print("| data | function | footprint | scipy ms | jitfilter ms | scipy / jitfilter |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for label, name, big, small in cases(cam, camf, vol, hyper):
        if args.only and args.only not in name:
            continue
        for size, run in (("large", big), ("3x3", small)):
            ours = run(jn)
            theirs = run(sn)
            assert ours.dtype == theirs.dtype, (name, ours.dtype, theirs.dtype)
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-3 if ours.dtype.kind == "f" else 0)
            t_jf, _ = timed(lambda: run(jn), args.repeat)
            t_sp, n = timed(lambda: run(sn), args.repeat)
            fp_name = LARGE[ours.ndim][0 if size == "large" else 1]
            print(f"| {label} | {name} | {fp_name} | {t_sp:.2f}{'' if n >= args.repeat else f' ({n} run)'} "
                  f"| {t_jf:.2f} | {t_sp / t_jf:.1f} |", flush=True)


if __name__ == "__main__":
    main()
