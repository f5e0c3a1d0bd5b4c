#!/usr/bin/env bash
# Makes every image in the gallery of docs/cli.md with the release binary.
# Run from anywhere: bash docs/gallery/make.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
jf=${CARGO_TARGET_DIR:-target}/release/jitfilter
in=tests/data
out=docs/gallery

# Dilation: the brightest value in an 11-pixel disk.
$jf apply 'max(w)' -f disk:5 $in/camera.png $out/camera_max.png

# Local contrast: the standard deviation in a 7×7 window, scaled into 8 bits.
$jf apply 'std(w) * 4' -f box:7 $in/camera.png $out/camera_std.png

# Salt-and-pepper noise from a position hash (5 % black, 5 % white), then a median removes it.
$jf apply 'let h = sin(x * 12.9898 + y * 78.233) * 43758.5453; let r = h - floor(h);
           if r < 0.05 then 0 else if r > 0.95 then 255 else c' \
    -f box:1 $in/camera.png $out/camera_noisy.png
$jf apply 'median(w)' -f disk:2 $out/camera_noisy.png $out/camera_median.png

# Sauvola local threshold on unevenly lit text.
$jf apply 'let m = mean(w); let s = std(w); if c > m * (1 + 0.2 * (s / 128 - 1)) then 255 else 0' \
    -f rect:25x25 $in/page.png $out/page_sauvola.png

# Bilateral: weights fall off with distance (σ = 11 px) and with difference in value (σ = 30).
$jf apply 'let g = exp(-(dx^2 + dy^2) / 242 - (w - c)^2 / 1800); sum(g * w) / sum(g)' \
    -f disk:11 $in/coins.png $out/coins_bilateral.png

# A position-dependent vignette on a colour image: each channel darkens towards the corners.
$jf apply 'c * (1 - 0.6 * ((x / width - 0.5)^2 + (y / height - 0.5)^2) * 2)' \
    -f box:1 $in/astronaut.png $out/astronaut_vignette.jpg
