#!/bin/sh
# Runs the three fuzz targets one after another, one job each, at the lowest priority.
# Usage: fuzz/run_all.sh [SECONDS_PER_TARGET]   (default 1800, the issue's 30 minutes)
# Crashes land in fuzz/artifacts/<target>/; copy each to fuzz/regressions/<target>/ so that
# `cargo test --test hardening_fuzz_corpus` replays it on stable.
set -u
cd "$(dirname "$0")"
secs=${1:-1800}
for target in parse_check engines load_image; do
    mkdir -p "corpus/$target" "artifacts/$target"
    nice -n 19 cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
        -jobs=1 -workers=1 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1 \
        > "/tmp/fuzz-$target.log" 2>&1
    echo "$target: exit $? ($(ls "corpus/$target" | wc -l) corpus files, $(ls "artifacts/$target" | wc -l) artifacts)"
done
