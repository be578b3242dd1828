# Sourced by the multi-rank test scripts (usage: SCRIPT MPIRUN SHEARS CONFIG SCRATCH): sets
# mpirun, shears, config and scratch, defines fail, skips (exit 77) without Fashion-MNIST and
# makes an empty scratch folder. run_one_and_two WHAT runs CONFIG as one process into
# $scratch/one and on 2 ranks into $scratch/two, failing with WHAT named if either run fails.
set -u
mpirun=$1 shears=$2 config=$3 scratch=$4
fail() { echo "FAIL: $*"; exit 1; }
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
  echo "SKIPPED: Fashion-MNIST (dataset-fashion-mnist) is not installed"; exit 77; }
rm -rf "$scratch" && mkdir -p "$scratch" || fail "cannot create $scratch"
run_one_and_two() {
  "$shears" run "$config" --out "$scratch/one" --quiet >"$scratch/one.log" 2>&1 ||
    { cat "$scratch/one.log"; fail "the one-process $1 failed"; }
  "$mpirun" -np 2 --oversubscribe "$shears" run "$config" --out "$scratch/two" --quiet \
    >"$scratch/two.log" 2>&1 || { cat "$scratch/two.log"; fail "the 2-rank $1 failed"; }
}
