#!/bin/sh
# Multi-rank failures of `shears run` under mpirun (2 ranks):
#  1. ranks given different configurations all stop with the disagreement named;
#  2. rank 1 killed (SIGKILL) at the end of epoch 2: the job ends with an error instead of
#     hanging (ctest's TIMEOUT catches a hang), the checkpoint rank 0 committed is intact, and a
#     second run with the same --out resumes from it and finishes with the same per-epoch metrics
#     as a run that was never interrupted.
# usage: kill_one_rank.sh MPIRUN SHEARS CONFIG SCRATCH
. "$(dirname "$0")/ranks_common.sh"
# launch OUT LOG: 2 ranks; rank 1 also gets the assignment in $ENV1 and the arguments in $EXTRA1
# (the launched processes inherit mpirun's environment).
launch() {
  out=$1 log=$2
  export ENV1 EXTRA1
  "$mpirun" -np 2 --oversubscribe sh -c '
    exe=$1; shift
    if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then
      [ -n "$ENV1" ] && export "$ENV1"
      exec "$exe" "$@" $EXTRA1
    fi
    exec "$exe" "$@"' sh "$shears" run "$config" --out "$out" --quiet >"$log" 2>&1
}

# 1. Mismatched configurations.
ENV1="" EXTRA1="--set train.lr=0.2" launch "$scratch/mismatch" "$scratch/mismatch.log"
rc=$?
[ $rc -ne 0 ] || fail "ranks with different configurations exited 0"
grep -q "the ranks disagree on the experiment" "$scratch/mismatch.log" ||
  { cat "$scratch/mismatch.log"; fail "no message naming the disagreement"; }

# 2. The uninterrupted reference, then the run whose rank 1 dies.
ENV1="" EXTRA1="" launch "$scratch/whole" "$scratch/whole.log" ||
  { cat "$scratch/whole.log"; fail "the uninterrupted 2-rank run failed"; }
ENV1="SHEARS_CRASH_AT=epoch_end:2" EXTRA1="" launch "$scratch/run" "$scratch/killed.log"
rc=$?
[ $rc -ne 0 ] || { cat "$scratch/killed.log"; fail "the job exited 0 although rank 1 was killed"; }
grep -qi "signal 9\|killed\|exited on signal\|non-zero" "$scratch/killed.log" ||
  { cat "$scratch/killed.log"; fail "no message about the dead rank"; }
[ -s "$scratch/run/train/last.safetensors" ] || fail "rank 0's committed checkpoint is missing"
ls "$scratch/run/train" | grep -q '\.tmp' && fail "a temporary file is left as if committed"
ENV1="" EXTRA1="" launch "$scratch/run" "$scratch/resumed.log" ||
  { cat "$scratch/resumed.log"; fail "resuming with the same --out failed"; }
grep -q "resumed from .*last.safetensors at epoch [12]" "$scratch/resumed.log" ||
  { cat "$scratch/resumed.log"; fail "the second run did not resume"; }
[ -s "$scratch/run/summary.json" ] || fail "the resumed run wrote no summary.json"
losses() { grep -o '"train_loss":[^,]*' "$1"; }
[ "$(losses "$scratch/run/train/metrics.jsonl")" = "$(losses "$scratch/whole/train/metrics.jsonl")" ] || {
  echo "resumed:"; losses "$scratch/run/train/metrics.jsonl"
  echo "uninterrupted:"; losses "$scratch/whole/train/metrics.jsonl"
  fail "the resumed run's per-epoch training losses differ from the uninterrupted run's"; }
echo "PASS: mismatch named; dead rank ended the job; resume finished as the uninterrupted run"
