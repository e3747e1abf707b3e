#!/usr/bin/env bash
# Install the suite for the GPU job: torch and torchvision built for a CUDA this machine's driver runs, and JAX
# with its CUDA plugin, at constraints.txt's versions, into a virtual environment (no TensorFlow, no Caffe: the
# GPU job runs PyTorch, Keras on JAX and Keras on torch).
#
# Usage:   .github/scripts/gpu-install.sh            (run from anywhere; installs the checkout it lives in)
#   MFB_VENV=.venv                 the virtual environment (default: .venv in the checkout)
#   PYTHON=python3                 the interpreter it is made from
#   TORCH_CUDA_BUILDS="cu130 cu128 cu126"   PyTorch's CUDA builds to choose from, newest first
#   TORCH_INDEX=https://download.pytorch.org/whl   where PyTorch's per-build wheel indexes live
#   GPU_INSTALL_DRY_RUN=1          print the plan (driver CUDA, chosen builds, pip command) and install nothing
#
# The driver's CUDA version is the one nvidia-smi prints ("CUDA Version: 12.8"): the newest CUDA it can run.
# The newest torch build not newer than that is chosen, so the driver can always load it (a build newer than the
# driver makes torch.cuda.is_available() false and every CUDA test skip). JAX gets jax[cuda13] on a driver that
# runs CUDA 13, else jax[cuda12]. Exit status: 0 done, 1 pip failed, 3 no usable NVIDIA driver or CUDA build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=${MFB_VENV:-$root/.venv}
python=${PYTHON:-python3}
read -r -a builds <<<"${TORCH_CUDA_BUILDS:-cu130 cu128 cu126}"
index=${TORCH_INDEX:-https://download.pytorch.org/whl}
say() { echo "[gpu-install] $*"; }
unusable() { echo "[gpu-install] error: $*" >&2; exit 3; }

command -v nvidia-smi >/dev/null || unusable "nvidia-smi not found: this machine has no NVIDIA driver"
banner=$(nvidia-smi) || unusable "nvidia-smi failed: the NVIDIA driver is not working"
driver_cuda=$(sed -n -E 's/.*CUDA Version: *([0-9]+)\.([0-9]+).*/\1.\2/p' <<<"$banner" | head -n 1)
[[ -n $driver_cuda ]] || unusable "cannot read the driver's CUDA version from nvidia-smi's output"
driver_major=${driver_cuda%.*}
driver_minor=${driver_cuda#*.}
say "the driver runs CUDA up to $driver_cuda"

build=""
for candidate in "${builds[@]}"; do   # cu128 -> 12.8, cu130 -> 13.0
  [[ $candidate =~ ^cu([0-9]+)([0-9])$ ]] || unusable "'$candidate' in TORCH_CUDA_BUILDS is not a CUDA build name like cu128"
  major=${BASH_REMATCH[1]}
  minor=${BASH_REMATCH[2]}
  if ((major < driver_major || (major == driver_major && minor <= driver_minor))); then
    build=$candidate
    break
  fi
done
[[ -n $build ]] || unusable "none of the torch builds ${builds[*]} runs on a driver for CUDA $driver_cuda: update the driver"
if ((driver_major >= 13)); then jax_extra=cuda13; elif ((driver_major == 12)); then jax_extra=cuda12; else
  unusable "JAX's CUDA plugins need a driver for CUDA 12 or newer (this one: $driver_cuda)"
fi

pins=$(sed -n -E "s/^(torch|torchvision)==([^[:space:]#]+).*/\1==\2+${build}/p" "$root/constraints.txt")
jax_version=$(sed -n -E 's/^jax==([^[:space:]#]+).*/\1/p' "$root/constraints.txt")
[[ -n $pins && -n $jax_version ]] || unusable "constraints.txt pins no torch or jax version"
say "torch builds: $(tr '\n' ' ' <<<"$pins")(index $index/$build); jax[$jax_extra]==$jax_version"
cmd=(-m pip install --disable-pip-version-check -c "$root/constraints.txt" -c "$venv/torch-cuda-constraints.txt"
     --extra-index-url "$index/$build" -e "${root}[pytorch,keras-jax,keras-torch,test]"
     "jax[$jax_extra]==$jax_version")
if [[ ${GPU_INSTALL_DRY_RUN:-0} == 1 ]]; then
  say "dry run: would run: $venv/bin/python ${cmd[*]}"
  exit 0
fi
[[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
echo "$pins" >"$venv/torch-cuda-constraints.txt"
"$venv/bin/python" "${cmd[@]}" || { echo "[gpu-install] error: pip failed" >&2; exit 1; }
say "installed into $venv"
