#!/usr/bin/env bash
# The one benchmark command: peer venvs and corpus when missing, then every tool side by side.
# Usage: bash bench/run.sh [--tasks rules_dj,rules_dt,exact,minhash,quality] [--workers 2]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
need=()
[ -x "$HERE/.venvs/data/bin/python" ] || need+=(data)
[ -x "$HERE/.venvs/minhash/bin/python" ] || need+=(minhash)
[ -x "$HERE/.venvs/datatrove/bin/python" ] || need+=(datatrove)
[ -x "$HERE/.venvs/dj/bin/python" ] || need+=(dj)
[ ${#need[@]} -eq 0 ] || bash "$HERE/setup.sh" "${need[@]}"
[ -f "$HERE/.data/corpus.jsonl" ] || "$ROOT/.venv/bin/python" "$HERE/corpus.py"
exec "$ROOT/.venv/bin/python" "$HERE/filters_bench.py" "$@"
