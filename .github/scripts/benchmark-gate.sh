#!/usr/bin/env bash
# The pull-request benchmark gate: benchmark the base and the head side by side on this machine, then let the
# BASE's gate decide whether the head is slower.
#
# Usage:   .github/scripts/benchmark-gate.sh CHECKOUT WORKDIR
#   CHECKOUT  a clone at the pull request's merge commit (what would land), with its first parent fetched
#             (actions/checkout with fetch-depth: 2). HEAD is the head side; HEAD^1, the branch the merge
#             commit was made on, is the base side (not pull_request.base.sha, which can lag behind it).
#   WORKDIR   where the two source trees, their virtual environments and the runs go (WORKDIR/runs/SIDE-I/).
#
# Steps: (1) a pull request that changes only documentation is not benchmarked (exit 0, said so); (2) base and
# head are checked out as two worktrees; (3) each side is installed into its own virtual environment from its
# own pyproject.toml and constraints.txt, so a dependency bump is measured; (4) REPEATS rounds in ABBA order
# (base, head, head, base, ...) of `python -m frameworks bench`, each side running its own code; a failed run is
# reported and the loop goes on; (5) `python -m frameworks gate` from the BASE tree, with the base's venv and the
# thresholds below, so a pull request cannot loosen its own gate (this script itself is taken from the base by
# the workflow).
#
# Environment:
#   REPEATS=6            rounds per side (>= 2; results/gate-experiment/rates.md measured 4 to 8)
#   PYTHON=python3       the interpreter the virtual environments are made from
#   TORCH_VARIANT        e.g. +cpu: also pin torch/torchvision to that build (with PIP_EXTRA_INDEX_URL set to
#                        an index that has it), as scripts/setup.sh does
#   GATE_REMOVED         benchmarks the head removes on purpose (space-separated; passed as --removed)
#   GATE_OUT_OF_SCOPE    benchmarks or frameworks (or patterns, e.g. 'keras-*') that may go untested without the
#                        gate exiting 4 (space-separated; passed as --out-of-scope)
#   SUMMARY              a Markdown file the gate appends its verdict to (the workflow: $GITHUB_STEP_SUMMARY)
#   GATE_EXTRAS          the extras each side installs (default: the four frameworks the gate runs, and test)
#   MFB_GATE_FRAMEWORKS  a command run instead of `python -m frameworks` (tests: a stub that writes small results
#                        files); it gets the side's interpreter as $MFB_GATE_PYTHON and the side as $MFB_GATE_SIDE
#
# Exit status: the gate's (0 pass, 1 regression or a benchmark missing/failed in head, 2 unusable input, 4 a
# benchmark that could not be tested, e.g. every head run of it disturbed by other load: not a pass);
# 1 also when every head run failed, 2 when every base run failed or the input is wrong.
set -euo pipefail

# ---- the gate's settings: these come from the base branch, like the rest of this file ---------------------------
readonly MIN_EFFECT=0.10   # the smallest slowdown that counts as a regression
readonly ALPHA=0.05        # the false-positive rate the gate allows
# Only what the gate gates (the step benchmarks: frameworks/analysis/gate.py GATED_KINDS), as the calibration and
# validation recordings ran it (results/gate-experiment/): epochs, latency and fidelity would take several times
# longer and decide nothing here.
readonly BENCH_ARGS=(--quick --frameworks "pytorch,keras-tensorflow,keras-jax,keras-torch" --networks "lenet,mlp_bn"
                     --variants "eager,default" --threads 2 -k test_step)
# Paths whose changes alone do not need a benchmark (bash patterns on the paths git reports).
readonly DOC_PATTERNS=('*.md' 'docs/*' 'results/*' 'LICENSE' '.github/ISSUE_TEMPLATE/*')

say() { echo "[gate] $*"; }
fail() { echo "[gate] error: $*" >&2; exit "${2:-2}"; }
summary() { if [[ -n ${SUMMARY:-} ]]; then echo "$*" >>"$SUMMARY"; fi; }

[[ $# -eq 2 ]] || fail "usage: $0 CHECKOUT WORKDIR"
checkout=$(cd "$1" && pwd) || fail "no checkout at $1"
work=$(realpath -m "$2")
repeats=${REPEATS:-6}
[[ $repeats =~ ^[0-9]+$ && $repeats -ge 2 ]] || fail "REPEATS must be a whole number >= 2 (got '$repeats')"
python=${PYTHON:-python3}
if [[ -n ${MNIST_DIR:-} ]]; then  # the runs start in the source trees: a relative MNIST_DIR would point into them
  MNIST_DIR=$(realpath -m "$MNIST_DIR")
  export MNIST_DIR
fi
extras=${GATE_EXTRAS-pytorch,keras-tensorflow,keras-jax,keras-torch,test}

# ---- 1. what the pull request changes --------------------------------------------------------------------------
head_sha=$(git -C "$checkout" rev-parse HEAD)
base_sha=$(git -C "$checkout" rev-parse --verify --quiet 'HEAD^1') \
  || fail "$checkout has no parent of HEAD: check out the merge commit with fetch-depth: 2"
say "base $base_sha (first parent of the merge commit), head $head_sha"
mapfile -t changed < <(git -C "$checkout" diff --name-only "$base_sha" "$head_sha")
code_changes=()
for path in "${changed[@]}"; do
  doc=0
  for pattern in "${DOC_PATTERNS[@]}"; do
    # shellcheck disable=SC2053  # the right-hand side is a pattern on purpose
    if [[ $path == $pattern ]]; then doc=1; break; fi
  done
  ((doc)) || code_changes+=("$path")
done
if ((${#code_changes[@]} == 0)); then
  say "only documentation changed (${#changed[@]} files): nothing to benchmark"
  summary "Benchmark gate: skipped, this pull request changes only documentation (${changed[*]:-nothing})."
  exit 0
fi
say "${#code_changes[@]} of ${#changed[@]} changed files are not documentation, e.g. ${code_changes[0]}"

# ---- 2. the two source trees -------------------------------------------------------------------------------------
mkdir -p "$work/src" "$work/runs"
for side in base head; do
  sha=$base_sha; [[ $side == head ]] && sha=$head_sha
  tree=$work/src/$side
  if [[ ! -e $tree/.git ]]; then
    git -C "$checkout" worktree add --quiet --detach "$tree" "$sha"
  fi
  [[ $(git -C "$tree" rev-parse HEAD) == "$sha" ]] || fail "$tree is not at $sha; remove $work and run again"
done

# ---- 3. each side installs its own dependency set ----------------------------------------------------------------
install_side() {
  local side=$1 tree=$work/src/$1 venv=$work/venv-$1
  local spec=$tree constraints=(-c "$tree/constraints.txt")
  [[ -n $extras ]] && spec="${tree}[$extras]"
  if [[ -n ${TORCH_VARIANT:-} ]]; then
    sed -n -E "s/^(torch|torchvision)==([^[:space:]#]+).*/\1==\2${TORCH_VARIANT}/p" "$tree/constraints.txt" \
      >"$work/torch-variant-$side.txt"
    constraints+=(-c "$work/torch-variant-$side.txt")
  fi
  local want
  want=$(cat "$tree/pyproject.toml" "$tree/constraints.txt" <(echo "$extras ${TORCH_VARIANT:-}") | sha256sum)
  if [[ -x $venv/bin/python && $(cat "$venv/.gate-installed" 2>/dev/null) == "$want" ]]; then
    say "$side: $venv is up to date"
    return
  fi
  say "$side: installing $spec with its constraints.txt into $venv"
  "$python" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${constraints[@]}" -e "$spec"
  echo "$want" >"$venv/.gate-installed"
}
install_side base
install_side head

frameworks() {  # frameworks SIDE ARGS... : `python -m frameworks ARGS` with that side's code and interpreter
  local side=$1
  shift
  if [[ -n ${MFB_GATE_FRAMEWORKS:-} ]]; then
    MFB_GATE_PYTHON=$work/venv-$side/bin/python MFB_GATE_SIDE=$side "$MFB_GATE_FRAMEWORKS" "$@"
  else
    "$work/venv-$side/bin/python" -m frameworks "$@"
  fi
}

# ---- 4. ABBA rounds ------------------------------------------------------------------------------------------------
failed=()
for ((i = 1; i <= repeats; i++)); do
  order=(base head)
  ((i % 2 == 0)) && order=(head base)
  for side in "${order[@]}"; do
    out=$work/runs/$side-$i
    rm -rf "$out"
    echo "::group::round $i: $side"
    say "round $i/$repeats: $side"
    if ! (cd "$work/src/$side" && frameworks "$side" bench "${BENCH_ARGS[@]}" --output-dir "$out"); then
      say "round $i: the $side run failed; its results are left out"
      failed+=("$side-$i")
    fi
    echo "::endgroup::"
  done
done

# ---- 5. the base's gate decides ------------------------------------------------------------------------------------
shopt -s nullglob
base_runs=("$work"/runs/base-*/bench-*/results.json)
head_runs=("$work"/runs/head-*/bench-*/results.json)
shopt -u nullglob
say "${#base_runs[@]} base and ${#head_runs[@]} head result files; failed runs: ${failed[*]:-none}"
if ((${#base_runs[@]} == 0)); then
  summary "Benchmark gate: no usable baseline, every base run failed (${failed[*]})."
  fail "every base run failed: there is no baseline to compare with" 2
fi
if ((${#head_runs[@]} == 0)); then
  summary "Benchmark gate: FAILED, every run of the pull request failed (${failed[*]})."
  fail "every head run failed" 1
fi
gate_args=(gate --base "${base_runs[@]}" --head "${head_runs[@]}" --min-effect "$MIN_EFFECT" --alpha "$ALPHA")
comma_list() { local IFS=,; echo "$*"; }
if [[ -n ${GATE_REMOVED:-} ]]; then
  read -r -a removed <<<"$GATE_REMOVED"
  gate_args+=(--removed "$(comma_list "${removed[@]}")")
fi
if [[ -n ${GATE_OUT_OF_SCOPE:-} ]]; then
  read -r -a out_of_scope <<<"$GATE_OUT_OF_SCOPE"
  gate_args+=(--out-of-scope "$(comma_list "${out_of_scope[@]}")")
fi
[[ -n ${SUMMARY:-} ]] && gate_args+=(--summary "$SUMMARY")
rc=0
(cd "$work/src/base" && frameworks base "${gate_args[@]}") || rc=$?
say "the gate (base's code) says $rc"
if ((rc == 4)); then
  summary "Benchmark gate: NOT A PASS, some benchmarks could not be tested (listed above); rerun, or declare them in \
the repository variable GATE_OUT_OF_SCOPE."
fi
exit "$rc"
