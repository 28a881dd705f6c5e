#!/usr/bin/env bash
# Peak RSS of `curate run` (rule filters + dedup.exact + dedup.minhash, bench/memory.yaml) on
# real-text JSONL of each size, one run at a time (the machine is shared). Prints one table row
# per size: input GiB, documents, peak RSS (GiB), RSS / input, wall seconds.
#   bash bench/memory_curve.sh 0.25 0.5 1
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/work/main/.venv/bin/python}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH=$PWD
mkdir -p bench/.data
echo "| input GiB | documents | peak RSS GiB | RSS / input | wall s |"
echo "|---|---|---|---|---|"
for gb in "${@:-0.25 0.5 1}"; do
  data=$PWD/bench/.data/mem-$gb.jsonl
  [ -f "$data" ] || "$PY" bench/memory_corpus.py --gb "$gb" --out "$data" >&2
  recipe=bench/.data/memory-$gb.yaml
  sed "s#path: INPUT#path: $data#" bench/memory.yaml > "$recipe"
  out=bench/.data/run-$gb
  rm -rf "$out"
  log=bench/.data/time-$gb.txt
  /usr/bin/time -v "$PY" -m curate.cli run "$recipe" --out "$out" --no-train > bench/.data/run-$gb.log 2> "$log"
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  docs=$(wc -l < "$data")
  size=$(stat -c %s "$data")
  "$PY" - "$gb" "$docs" "$rss_kb" "$size" "$wall" <<'PYEOF'
import sys
gb, docs, rss_kb, size, wall = sys.argv[1:]
rss = int(rss_kb) * 1024 / 2**30
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
print(f"| {int(size) / 2**30:.2f} | {int(docs):,} | {rss:.2f} | {rss / (int(size) / 2**30):.1f}x | {secs:.0f} |")
PYEOF
done
