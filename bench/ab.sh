#!/usr/bin/env bash
# A/B of two jitfilter binaries on one filter, alternating them so that both see the same
# machine load: the filter time `apply --time` reports (ms), in-memory path, per round.
#   bench/ab.sh OLD_BIN NEW_BIN EXPR INPUT FOOTPRINT [ROUNDS]
# e.g. bench/ab.sh /tmp/jitfilter-old target/release/jitfilter 'mean(w)' big.npy disk:11
# Prints one line per binary with its times; compare the medians.
set -euo pipefail
old=$1 new=$2 expr=$3 input=$4 fp=$5 rounds=${6:-5}
out=$(mktemp --suffix=.npy)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
    for b in old new; do
        bin=$old
        [ "$b" = new ] && bin=$new
        t=$("$bin" apply "$expr" "$input" "$out" -f "$fp" --stream never --time 2>&1 |
            sed -n 's/.*filter \([0-9.]*\) ms.*/\1/p')
        echo "$b $t"
    done
done | awk '{a[$1] = a[$1] " " $2} END {print "old" a["old"]; print "new" a["new"]}'
