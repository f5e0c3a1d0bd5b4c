"""Huge images (issue 18): wall time and peak memory of `jitfilter apply` beside libvips's `vips`,
one run each, on a 16000×16000 u8 image (TIFF and PNG) and a 64000×16000 (1 GiB) TIFF.

    python3 bench/huge.py [--dir /tmp/huge] [--bin target/release/jitfilter] [--skip-1g]

Needs numpy, tifffile and Pillow (to make the images, once; they are kept in --dir) and the
`vips` command (Debian: libvips-tools). Peak memory is each process's maximum resident set
(GNU time's %M). The image is the camera test image tiled, with noise, so that medians
and keyed paths see real data.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def make(path: Path, rows: int, cols: int, fmt: str):
    if path.exists():
        return
    from PIL import Image
    import tifffile

    here = Path(__file__).resolve().parent.parent
    cam = np.asarray(Image.open(here / "tests/data/camera.png").convert("L"))
    rng = np.random.default_rng(18)
    tile = np.tile(cam, (-(-16000 // cam.shape[0]), -(-cols // cam.shape[1])))[:16000, :cols]
    tile = np.clip(tile.astype(np.int16) + rng.integers(-8, 9, tile.shape, dtype=np.int16), 0, 255)
    tile = tile.astype(np.uint8)
    big = np.concatenate([tile] * (rows // 16000)) if rows > 16000 else tile
    if fmt == "tif":
        tifffile.imwrite(path, big, rowsperstrip=64, bigtiff=big.nbytes > 2**32 - 2**24)
    else:
        Image.fromarray(big).save(path, compress_level=1)


def run(cmd):
    """Wall seconds and peak RSS (MiB) of one run of `cmd`, by GNU time (getrusage of a child
    forked from this process would count this process's memory before the exec)."""
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "RSS %M", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wall = time.perf_counter() - start
    err = proc.stderr.decode()
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{err}")
    rss = [l for l in err.splitlines() if l.startswith("RSS ")][-1]
    return wall, int(rss.split()[1]) / 1024


def disk_matrix(path: Path, r: int):
    """A vips morphology mask: 255 inside the disk of radius r, 128 (don't care) outside."""
    n = 2 * r + 1
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    m = np.where(x * x + y * y <= r * r, 255, 128)
    with open(path, "w") as f:
        f.write(f"{n} {n}\n")
        for row in m:
            f.write(" ".join(map(str, row)) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/huge")
    ap.add_argument("--bin", default="target/release/jitfilter")
    ap.add_argument("--skip-1g", action="store_true")
    a = ap.parse_args()
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    jf = str(Path(a.bin).resolve())
    tif, png, tif1g = d / "big.tif", d / "big.png", d / "big1g.tif"
    make(tif, 16000, 16000, "tif")
    make(png, 16000, 16000, "png")
    disk_matrix(d / "disk11.mat", 11)
    disk_matrix(d / "disk5.mat", 5)
    with open(d / "box15.mat", "w") as f:
        f.write("15 1 15 0\n" + " ".join(["1"] * 15) + "\n")
    o = lambda name: str(d / name)
    cases = [
        (
            "median(w) box:7, TIFF → TIFF",
            [jf, "apply", "median(w)", str(tif), o("j_median.tif"), "-f", "box:7"],
            ["vips", "rank", str(tif), o("v_median.tif"), "7", "7", "24"],
        ),
        # What the writers and readers alone cost: the centre value copied, beside vips's copy.
        (
            "copy (`c`), PNG → PNG",
            [jf, "apply", "c", str(png), o("j_copy.png")],
            ["vips", "copy", str(png), o("v_copy.png")],
        ),
        (
            "copy (`c`), TIFF → TIFF",
            [jf, "apply", "c", str(tif), o("j_copy.tif")],
            ["vips", "copy", str(tif), o("v_copy.tif")],
        ),
        # vips's morph is binary morphology (its result is 0 or 255, a file of a few hundred
        # KB): a time to set beside, not the same work or the same file to write.
        (
            "max(w) disk:11, PNG → PNG (vips: binary dilate)",
            [jf, "apply", "max(w)", str(png), o("j_max.png"), "-f", "disk:11"],
            ["vips", "morph", str(png), o("v_max.png"), str(d / "disk11.mat"), "dilate"],
        ),
        (
            "mean(w) box:15, TIFF → TIFF",
            [jf, "apply", "mean(w)", str(tif), o("j_mean.tif"), "-f", "box:15"],
            ["vips", "convsep", str(tif), o("v_mean.tif"), str(d / "box15.mat")],
        ),
        (
            "opening disk:5 (two stages), TIFF → TIFF",
            [
                jf, "apply", "stage e = min(w) over disk:5; max(e) over disk:5",
                str(tif), o("j_open.tif"),
            ],
            None,
        ),
    ]
    if not a.skip_1g:
        make(tif1g, 64000, 16000, "tif")
        cases.append(
            (
                "median(w) box:7, 64000×16000 TIFF → TIFF",
                [jf, "apply", "median(w)", str(tif1g), o("j_median1g.tif"), "-f", "box:7"],
                ["vips", "rank", str(tif1g), o("v_median1g.tif"), "7", "7", "24"],
            )
        )
    print("| case | jitfilter s | jitfilter MiB | vips s | vips MiB | time ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, ours, theirs in cases:
        w, m = run(ours)
        if theirs:
            vw, vm = run(theirs)
            print(f"| {name} | {w:.2f} | {m:.0f} | {vw:.2f} | {vm:.0f} | {w / vw:.2f} |", flush=True)
        else:
            print(f"| {name} | {w:.2f} | {m:.0f} | | | |", flush=True)
        for f in d.glob("[jv]_*"):
            f.unlink()


if __name__ == "__main__":
    main()
