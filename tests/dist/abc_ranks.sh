#!/bin/sh
# A distributed ABCPruner search (candidates spread over 2 ranks, results gathered in candidate
# order) finds the same best code, fitness and candidate log as one process.
# usage: abc_ranks.sh MPIRUN SHEARS CONFIG SCRATCH
. "$(dirname "$0")/ranks_common.sh"
run_one_and_two "search"
field() { grep -o "\"$2\": *[^,}]*" "$1/summary.json" | head -1; }
code() { tr -d ' \n' <"$1/summary.json" | grep -o '"best_code":\[[^]]*\]'; }
[ -n "$(code "$scratch/one")" ] || fail "no best_code in the one-process summary"
[ "$(code "$scratch/one")" = "$(code "$scratch/two")" ] ||
  fail "best codes differ: $(code "$scratch/one") vs $(code "$scratch/two")"
[ "$(field "$scratch/one" best_fitness)" = "$(field "$scratch/two" best_fitness)" ] ||
  fail "best fitness differs: $(field "$scratch/one" best_fitness) vs $(field "$scratch/two" best_fitness)"
fit() { grep -o '"fitness":[^,]*' "$1/search.jsonl"; }
[ "$(fit "$scratch/one")" = "$(fit "$scratch/two")" ] || fail "the candidates' fitness differ"
echo "PASS: best code $(code "$scratch/one"), $(fit "$scratch/one" | wc -l) candidates, same on 1 and 2 ranks"
