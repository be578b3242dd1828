#!/bin/sh
# GAL data parallel (tests/dist/gal_tiny.yaml): the masks trained on 2 ranks (gradients of the
# student, the masks and the discriminator averaged over ranks, synchronised BN) remove the same
# blocks as one process, give the same pruned architecture, and every mask value agrees to
# float tolerance (|a - b| <= 1e-4 + 1e-3 |b|; measured: 5.3e-6 at most).
# usage: gal_ranks.sh MPIRUN SHEARS CONFIG SCRATCH
. "$(dirname "$0")/ranks_common.sh"
run_one_and_two "GAL run"
flat() { tr -d ' \n' <"$1/summary.json"; }
removed() { flat "$1" | grep -o '"removed_structures":\[[^]]*\]'; }
arch() { flat "$1" | grep -o '"pruned_arch":{[^}]*}[^}]*}'; }
sites() { flat "$1" | grep -o '"sites":{[^}]*}' | sed 's/^"sites":{//; s/}$//' | tr ',' '\n'; }
[ -n "$(removed "$scratch/one")" ] || fail "no removed_structures in the one-process summary"
[ "$(removed "$scratch/one")" = "$(removed "$scratch/two")" ] ||
  fail "removed structures differ: $(removed "$scratch/one") vs $(removed "$scratch/two")"
[ "$(arch "$scratch/one")" = "$(arch "$scratch/two")" ] || fail "the pruned architectures differ"
n=$(sites "$scratch/one" | wc -l)
[ "$n" -ge 2 ] || fail "no mask values in the one-process summary"
sites "$scratch/one" >"$scratch/one.sites"
sites "$scratch/two" >"$scratch/two.sites"
paste -d: "$scratch/one.sites" "$scratch/two.sites" | awk -F: '
  { if ($1 != $3) { print "site " $1 " vs " $3; bad = 1; next }
    d = $2 - $4; if (d < 0) d = -d; b = $2 < 0 ? -$2 : $2
    if (d > 1e-4 + 1e-3 * b) { print "mask " $1 ": " $2 " vs " $4; bad = 1 }
    if (d > worst) worst = d }
  END { printf "largest mask difference %.2g\n", worst; exit bad }' ||
  fail "mask values differ"
echo "PASS: removed $(removed "$scratch/one"), $n masks, same on 1 and 2 ranks"
