#!/bin/sh
# A distributed MetaPruning search (candidates spread over 2 ranks, scores gathered in candidate
# order) logs the same candidates with the same scores and picks the same encoding as one process.
# usage: metapruning_ranks.sh MPIRUN SHEARS CONFIG SCRATCH
. "$(dirname "$0")/ranks_common.sh"
run_one_and_two "search"
code() { tr -d ' \n' <"$1/summary.json" | grep -o '"code":\[[^]]*\]' | head -1; }
[ -n "$(code "$scratch/one")" ] || fail "no encoding code in the one-process summary"
[ "$(code "$scratch/one")" = "$(code "$scratch/two")" ] ||
  fail "encodings differ: $(code "$scratch/one") vs $(code "$scratch/two")"
cand() { grep -o '"code":\[[^]]*\]\|"fitness":[^,]*' "$1/search.jsonl"; }
n=$(grep -c . "$scratch/one/search.jsonl")
[ "$n" -ge 4 ] || fail "only $n candidates logged"
[ "$(cand "$scratch/one")" = "$(cand "$scratch/two")" ] || fail "the candidates or their scores differ"
[ "$(grep -o '"fitness":[^,]*' "$scratch/one/search.jsonl" | sort -u | wc -l)" -ge 2 ] ||
  fail "every candidate scored the same: the comparison would prove nothing"
echo "PASS: encoding $(code "$scratch/one"), $n candidates, same on 1 and 2 ranks"
