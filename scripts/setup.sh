#!/usr/bin/env bash
# Install the suite into a virtual environment: every framework, the test tools, and Caffe built from source.
# Idempotent: a re-run with nothing changed takes a few seconds.
#
#   PYTHON=python3.11   interpreter the venv is made from (default: python3)
#   MFB_VENV=.venv      where the venv lives (default: .venv in the repository)
#   MFB_SKIP_CAFFE=1    do not build Caffe (its tests are then skipped with the reason)
#   MFB_SKIP_BROWSER=1  do not install Chromium (the dashboard's browser test is then skipped with the reason)
#   TORCH_VARIANT=+cpu  pin torch and torchvision to that build of constraints.txt's versions (torch==2.14.1+cpu);
#                       set PIP_EXTRA_INDEX_URL to an index that has it, e.g. PyTorch's CPU wheel index (README)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MFB_VENV:-$root/.venv}
python=${PYTHON:-python3}
say() { echo "[setup] $*"; }

if [[ ! -x $venv/bin/python ]]; then
  say "creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi
stamp=$venv/.mfb-installed
variant=${TORCH_VARIANT:-}
want=$(cat "$root/pyproject.toml" "$root/constraints.txt" <(echo "torch variant: $variant") | sha256sum | cut -d' ' -f1)
if [[ $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
  say "installing the suite with PyTorch, TensorFlow, Keras, JAX, the test and documentation tools (about 2 minutes the first time)"
  constraints=(-c "$root/constraints.txt")
  if [[ -n $variant ]]; then
    # the same versions, as that build: torch==2.14.1 -> torch==2.14.1+cpu
    sed -n -E "s/^(torch|torchvision)==([^[:space:]#]+).*/\1==\2${variant}/p" "$root/constraints.txt" \
      >"$venv/torch-variant-constraints.txt"
    constraints+=(-c "$venv/torch-variant-constraints.txt")
    say "torch builds: $(tr '\n' ' ' <"$venv/torch-variant-constraints.txt")"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${constraints[@]}" -e "${root}[all,test,browser,ci,docs]"
  echo "$want" >"$stamp"
else
  say "Python packages are up to date"
fi

# The dashboard's browser test drives Debian's Chromium through playwright (never playwright's own download).
if [[ ${MFB_SKIP_BROWSER:-0} == 1 ]]; then
  say "not installing Chromium (MFB_SKIP_BROWSER=1): the dashboard's browser test will be skipped"
elif command -v chromium >/dev/null 2>&1 || [[ -n ${MFB_CHROMIUM:-} ]]; then
  say "Chromium is installed"
elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  say "installing Chromium for the dashboard's browser test (apt-get, about a minute the first time)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
else
  say "Chromium is missing and cannot be installed here (needs root and apt-get): the dashboard's browser test" \
    "will be skipped; install chromium, or set MFB_CHROMIUM to a Chromium or Chrome binary"
fi

if [[ ${MFB_SKIP_CAFFE:-0} == 1 ]]; then
  say "not building Caffe (MFB_SKIP_CAFFE=1): its tests will be skipped"
else
  say "building Caffe from source if needed (about 5 minutes the first time)"
  rc=0
  PYTHON=$venv/bin/python "$root/scripts/install_caffe.sh" || rc=$?
  case $rc in
    0) ;;
    3) say "Caffe cannot be built here (it needs Linux x86_64, apt and Python 3.11): its tests will be skipped" ;;
    *) say "the Caffe build failed (exit $rc); see the messages above"; exit "$rc" ;;
  esac
fi
say "ready: $venv"
