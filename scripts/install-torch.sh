#!/usr/bin/env bash
# Installs torch into the virtual environment whose python is $1, unless it already has one.
#   - a GPU (nvidia-smi lists one): the default build from the package index (CUDA), unpinned;
#   - no GPU: the CPU build, $TORCH_CPU_VERSION+cpu (a local wheel when pip's find-links has one,
#     else PyTorch's CPU index), so a CPU machine does not download several GB of CUDA.
# Override with TORCH_SPEC (e.g. TORCH_SPEC="torch==2.6.0") to install exactly that.
set -euo pipefail
py=$1
if "$py" -c 'import torch' 2>/dev/null; then
  echo "torch $("$py" -c 'import torch; print(torch.__version__)') already installed"
  exit 0
fi
pip=("$py" -m pip install --quiet)
if [ -n "${TORCH_SPEC:-}" ]; then
  "${pip[@]}" "$TORCH_SPEC"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  "${pip[@]}" torch
else
  cpu="torch==${TORCH_CPU_VERSION:-2.13.0}+cpu"
  "${pip[@]}" "$cpu" 2>/dev/null \
    || "${pip[@]}" "$cpu" --extra-index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
fi
