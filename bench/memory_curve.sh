#!/usr/bin/env bash
# Peak RSS of `curate run` (rule filters + dedup.exact + dedup.minhash, bench/memory.yaml) on
# real-text JSONL of each size, one run at a time (the machine is shared). Prints one table row
# per size: input GiB, documents, peak RSS (GiB: the largest process, as /usr/bin/time -v reports),
# peak RSS of the whole process tree summed (bench/rss_tree.py: the process pool's workers
# included), RSS / input, wall seconds.
#   bash bench/memory_curve.sh 0.5 1 2 5
# RECIPE=bench/memory_planned.yaml bash bench/memory_curve.sh 1   the same with select.top and cap.total
# DATA=/big/disk bash bench/memory_curve.sh 5   puts corpora and runs elsewhere (5 GiB of JSONL
# makes ~2 GiB of Parquet per stage). Each size's phases (read, stages, output, report) are
# timed in $DATA/run-<gb>.log (the run log).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/work/main/.venv/bin/python}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH=$PWD
DATA=${DATA:-$PWD/bench/.data}
mkdir -p "$DATA"
echo "| input GiB | documents | peak RSS GiB (largest process) | peak RSS GiB (tree, summed) | tree RSS / input | wall s |"
echo "|---|---|---|---|---|---|"
for gb in "${@:-0.25 0.5 1}"; do
  data=$DATA/mem-$gb.jsonl
  [ -f "$data" ] || "$PY" bench/memory_corpus.py --gb "$gb" --out "$data" >&2
  recipe=$DATA/$(basename "${RECIPE:-bench/memory.yaml}" .yaml)-$gb.yaml
  sed "s#path: INPUT#path: $data#" "${RECIPE:-bench/memory.yaml}" > "$recipe"
  out=$DATA/run-$gb
  rm -rf "$out"
  log=$DATA/time-$gb.txt
  /usr/bin/time -v "$PY" bench/rss_tree.py -- "$PY" -m curate.cli run "$recipe" --out "$out" --no-train > "$DATA/run-$gb.log" 2> "$log"
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  tree_b=$(awk -F'=' '/peak_tree_rss_bytes/ {print $2}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  docs=$(wc -l < "$data")
  size=$(stat -c %s "$data")
  "$PY" - "$gb" "$docs" "$rss_kb" "$size" "$wall" "$tree_b" <<'PYEOF'
import sys
gb, docs, rss_kb, size, wall, tree_b = sys.argv[1:]
rss, tree = int(rss_kb) * 1024 / 2**30, int(tree_b) / 2**30
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
gib = int(size) / 2**30
print(f"| {gib:.2f} | {int(docs):,} | {rss:.2f} | {tree:.2f} | {tree / gib:.1f}x | {secs:.0f} |")
PYEOF
done
