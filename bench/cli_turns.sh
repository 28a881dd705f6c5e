#!/usr/bin/env bash
# The product path beside the library path and the goal's peers, in alternating turns:
# per task, curate (library) / curate-cli (`curate run recipe.yaml`) / the peer, N turns.
# Each line: name, wall s, user s, sys s (/usr/bin/time), 1-minute load. Needs bench/.venvs and the
# corpus (bash bench/run.sh builds both). Usage: bash bench/cli_turns.sh [turns=3] [dj_from_turn=2]
# BASE=/path/to/other/checkout adds exact-cli-base / rules-cli-base turns: the same CLI runs from that
# tree (e.g. main), alternating with this one, for an A/B under the same load. NICE (default 10) is
# the niceness of every timed command (0 for a final measurement on a quiet machine).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
cd "$ROOT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONHASHSEED=0
C=bench/.data/corpus.jsonl P=bench/peers PY="$ROOT/.venv/bin/python"
O="$HERE/results/cli-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$O"
t() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$O/time.txt" nice -n "${NICE:-10}" "$@" > "$O/$name.out" 2>&1
  echo "$name $(cat "$O/time.txt") load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$O/turns.txt"
}
for k in $(seq 1 "${1:-3}"); do
  t exact-curate "$PY" $P/curate_run.py exact --input $C --out "$O/ec" --workers 2
  t exact-cli "$PY" $P/curate_cli_run.py exact --input $C --out "$O/ecli"
  if [ -n "${BASE:-}" ]; then
    t exact-cli-base "$PY" "$BASE/bench/peers/curate_cli_run.py" exact --input $C --out "$O/eclib"
  fi
  t exact-pyset "$PY" $P/pyset_run.py exact --input $C --out "$O/eps"
  t minhash-curate "$PY" $P/curate_run.py minhash --input $C --out "$O/mc" --workers 2
  t minhash-cli "$PY" $P/curate_cli_run.py minhash --input $C --out "$O/mcli"
  t minhash-rensa bench/.venvs/minhash/bin/python $P/minhash_run.py rensa minhash --input $C --out "$O/mr"
  t rules-curate "$PY" $P/curate_run.py rules_dj --input $C --out "$O/rc" --workers 2
  t rules-cli "$PY" $P/curate_cli_run.py rules_dj --input $C --out "$O/rcli"
  if [ -n "${BASE:-}" ]; then
    t rules-cli-base "$PY" "$BASE/bench/peers/curate_cli_run.py" rules_dj --input $C --out "$O/rclib"
  fi
  if [ "$k" -ge "${2:-2}" ]; then
    t rules-dj bench/.venvs/dj/bin/python $P/dj_run.py rules_dj --input $C --out "$O/rdj-$k" --workers 2
  fi
done
