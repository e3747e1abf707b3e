#!/usr/bin/env bash
# Build Caffe 1.0 (CPU only) from source and install pycaffe into a Python environment.
#
# Usage:   PYTHON=/path/to/venv/bin/python scripts/install_caffe.sh
#          (PYTHON defaults to `python3` on PATH; MFB_CACHE overrides the cache/build location)
#
# Source:  the PyPI source distribution brocolli-caffe==9.0.2 (Caffe 1.0, a BVLC fork with the SSD layers
#          added). Its setup.py insists on conda, so the tree is patched and built with CMake directly.
# Needs:   Debian/Ubuntu on Linux x86_64 with apt, and a CPython 3.11 target (Debian's Boost.Python is built
#          for Python 3.11 only). Root or sudo for the apt packages. About 4 minutes on 2 cores.
#
# Exit status: 0 installed (or already up to date); 1 a step failed; 2 $PYTHON is not runnable;
#              3 unsupported here (not Linux x86_64 / Debian, or the target Python is not 3.11) -- callers
#              may treat 3 as "skip Caffe" rather than as a crash.
#
# Re-running is cheap: an install stamp (sdist sha256 + this script's sha256 + Python version) is written to
# <site-packages>/caffe/.mfb_build_stamp; when it matches and `import caffe` works the script exits at once.
# The build tree is kept under the cache directory so a rebuild only recompiles what changed.

set -Eeuo pipefail

# ---- inputs ------------------------------------------------------------------------------------------
readonly CAFFE_DIST=brocolli-caffe
readonly CAFFE_VERSION=9.0.2
# sha256 of brocolli-caffe-9.0.2.tar.gz as observed when this script was written (pip download).
readonly CAFFE_SDIST_SHA256=c6410cc60bdd6db685d441b66be7df05410f8850ac88d6b75d48ef9b2315c08a
readonly APT_PACKAGES=(
  build-essential cmake protobuf-compiler libprotobuf-dev libgoogle-glog-dev libgflags-dev
  libboost-system-dev libboost-thread-dev libboost-filesystem-dev libboost-regex-dev libboost-python-dev
  libhdf5-dev liblmdb-dev libopenblas-dev
)
readonly BOOST_PYTHON_LIB=boost_python311   # Debian's name for Boost.Python built against Python 3.11
readonly HDF5_INCLUDE=/usr/include/hdf5/serial
readonly HDF5_LIBDIR=/usr/lib/x86_64-linux-gnu/hdf5/serial

PYTHON=${PYTHON:-python3}
# Absolute interpreter path (helpers run from /); -s keeps a venv's bin/python symlink unresolved.
if [[ $PYTHON == */* ]]; then
  PYTHON=$(realpath -s "$PYTHON")
else
  PYTHON=$(command -v "$PYTHON" || echo "$PYTHON")
fi
SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
CACHE_ROOT=$(realpath -m "${MFB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mnist-framework-bench}")
CACHE_DIR=$CACHE_ROOT/caffe
SRC_DIR=$CACHE_DIR/$CAFFE_DIST-$CAFFE_VERSION
BUILD_DIR=$SRC_DIR/build
LOG_DIR=$CACHE_DIR/logs
readonly TOTAL_STEPS=8

# ---- step bookkeeping, logging, error reporting -------------------------------------------------------
STEP_NO=0
STEP_NAME="start-up"
CURRENT_LOG=""
TMP_WORK=""

step() {
  STEP_NO=$1
  STEP_NAME=$2
  echo "[caffe $STEP_NO/$TOTAL_STEPS] $STEP_NAME"
}

info() { echo "    $*"; }

exec 3>&2   # the script's own stderr: the ERR trap may fire inside a command whose stderr goes to a log
on_err() {
  local rc=$? line=${1:-?}
  # Subshells and command substitutions inherit this trap (set -E); only the main shell reports.
  if ((BASH_SUBSHELL > 0)); then exit "$rc"; fi
  trap - ERR
  {
    echo "install_caffe.sh: step $STEP_NO/$TOTAL_STEPS ($STEP_NAME) failed with status $rc (line $line)"
    if [[ -n $CURRENT_LOG && -s $CURRENT_LOG ]]; then
      echo "---- last 40 lines of $CURRENT_LOG ----"
      tail -n 40 "$CURRENT_LOG"
      echo "---- end of $CURRENT_LOG ----"
    fi
  } >&3
  exit 1
}
trap 'on_err $LINENO' ERR

STAGE=""
cleanup() {
  if [[ -n $TMP_WORK ]]; then rm -rf "$TMP_WORK"; fi
  if [[ -n $STAGE ]]; then rm -rf "$STAGE"; fi
}
trap cleanup EXIT

die() {
  trap - ERR
  echo "install_caffe.sh: $*" >&2
  exit 1
}

unsupported() {
  trap - ERR
  echo "install_caffe.sh: $*" >&2
  echo "Caffe needs Python 3.11 with Debian's Boost.Python; skipping" >&2
  exit 3
}

# run_logged LOGFILE CMD... : run CMD with all its output appended to LOGFILE (the ERR trap shows its tail).
declare -A LOGS_STARTED=()
run_logged() {
  local log=$1
  shift
  CURRENT_LOG=$log
  mkdir -p "$(dirname "$log")"
  if [[ -z ${LOGS_STARTED[$log]:-} ]]; then : >"$log"; LOGS_STARTED[$log]=1; fi   # fresh log per run
  echo "+ $*" >>"$log"
  "$@" >>"$log" 2>&1
  CURRENT_LOG=""
}

# Python helper that runs from a neutral directory, so a `caffe` folder in the caller's cwd is never imported.
py() { (cd / && "$PYTHON" "$@"); }

# ---- 1. platform and interpreter checks ---------------------------------------------------------------
step 1 "checks (platform, Python)"
[[ $(uname -s) == Linux ]] || unsupported "this is $(uname -s), not Linux"
[[ $(uname -m) == x86_64 ]] || unsupported "this machine is $(uname -m), not x86_64"
if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  unsupported "no dpkg-query/apt-get: the recipe needs Debian's packages"
fi
if ! PY_INFO=$(py -c 'import sys, platform
print("%d.%d" % sys.version_info[:2], platform.python_version(), platform.python_implementation())' 2>/dev/null)
then
  trap - ERR
  echo "install_caffe.sh: cannot run the target Python '$PYTHON' (set PYTHON=/path/to/python)" >&2
  exit 2
fi
read -r PY_MINOR PY_FULL PY_IMPL <<<"$PY_INFO"
[[ $PY_IMPL == CPython && $PY_MINOR == 3.11 ]] \
  || unsupported "the target Python ($PYTHON) is $PY_IMPL $PY_FULL, not CPython 3.11"
SITE_PACKAGES=$(py -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
INSTALL_DIR=$SITE_PACKAGES/caffe
STAMP_FILE=$INSTALL_DIR/.mfb_build_stamp
SCRIPT_SHA256=$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)
STAMP=$(printf 'sdist=%s\nscript=%s\npython=%s %s\n' "$CAFFE_SDIST_SHA256" "$SCRIPT_SHA256" "$PY_IMPL" "$PY_FULL" \
  | sha256sum | cut -d' ' -f1)
info "Python $PY_FULL at $(py -c 'import sys; print(sys.executable)'); site-packages $SITE_PACKAGES"

if [[ -f $STAMP_FILE && $(<"$STAMP_FILE") == "$STAMP" ]] \
  && GLOG_minloglevel=2 py -c 'import caffe' >/dev/null 2>&1; then
  echo "Caffe is up to date ($INSTALL_DIR)"
  exit 0
fi

mkdir -p "$CACHE_DIR" "$LOG_DIR"
# One build at a time per cache directory.
if command -v flock >/dev/null; then
  exec 9>"$CACHE_DIR/.lock"
  flock 9
fi
TMP_WORK=$(mktemp -d "$CACHE_DIR/.tmp.XXXXXX")

# ---- 2. system packages -------------------------------------------------------------------------------
step 2 "apt packages"
missing_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
  if [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true) != installed ]]; then
    missing_apt+=("$pkg")
  fi
done
if ((${#missing_apt[@]})); then
  SUDO=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing_apt[*]}"
    SUDO=(sudo)
  fi
  info "installing ${missing_apt[*]} (log: $LOG_DIR/apt.log)"
  run_logged "$LOG_DIR/apt.log" "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  run_logged "$LOG_DIR/apt.log" "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing_apt[@]}"
else
  info "all ${#APT_PACKAGES[@]} packages already installed"
fi
# Debian's Boost.Python must exist for this Python; on other releases (e.g. 3.13 only) Caffe is unsupported.
[[ -e /usr/lib/x86_64-linux-gnu/lib$BOOST_PYTHON_LIB.so ]] \
  || unsupported "/usr/lib/x86_64-linux-gnu/lib$BOOST_PYTHON_LIB.so not found after installing libboost-python-dev"

# ---- 3. Python packages pycaffe imports ---------------------------------------------------------------
step 3 "Python packages"
missing_py=$(py - <<'EOF'
import importlib
wanted = [("numpy", "numpy"), ("google.protobuf", "protobuf>=3.20"), ("six", "six"),
          ("scipy", "scipy"), ("skimage", "scikit-image"), ("lmdb", "lmdb")]
missing = []
for module, requirement in wanted:
    try:
        mod = importlib.import_module(module)
    except Exception:
        missing.append(requirement)
        continue
    if module == "google.protobuf":
        major_minor = tuple(int(p) for p in mod.__version__.split(".")[:2])
        if major_minor < (3, 20):
            missing.append(requirement)
print(" ".join(missing))
EOF
)
if [[ -n $missing_py ]]; then
  info "pip installing $missing_py (log: $LOG_DIR/pip.log)"
  # shellcheck disable=SC2086  # word splitting of the requirement list is intended
  run_logged "$LOG_DIR/pip.log" py -m pip install $missing_py
else
  info "numpy, protobuf, six, scipy, scikit-image and lmdb already importable"
fi

# ---- 4. source distribution ---------------------------------------------------------------------------
step 4 "source ($CAFFE_DIST==$CAFFE_VERSION)"
find_sdist() { find "$CACHE_DIR" -maxdepth 1 -type f -iname "brocolli[-_]caffe-$CAFFE_VERSION.tar.gz" -print -quit; }
SDIST=$(find_sdist)
if [[ -n $SDIST && $(sha256sum "$SDIST" | cut -d' ' -f1) != "$CAFFE_SDIST_SHA256" ]]; then
  info "cached $SDIST has the wrong sha256; downloading again"
  rm -f "$SDIST"
  SDIST=""
fi
if [[ -z $SDIST ]]; then
  info "pip download (log: $LOG_DIR/download.log)"
  run_logged "$LOG_DIR/download.log" py -m pip download --no-deps --no-binary :all: \
    "$CAFFE_DIST==$CAFFE_VERSION" -d "$CACHE_DIR"
  SDIST=$(find_sdist)
  [[ -n $SDIST ]] || die "pip download did not leave $CAFFE_DIST-$CAFFE_VERSION.tar.gz in $CACHE_DIR"
fi
SDIST_SHA256=$(sha256sum "$SDIST" | cut -d' ' -f1)
[[ $SDIST_SHA256 == "$CAFFE_SDIST_SHA256" ]] \
  || die "sha256 mismatch for $SDIST: got $SDIST_SHA256, expected $CAFFE_SDIST_SHA256"
info "sha256 OK: $SDIST"
# Extract once; the marker holds the sdist hash. Re-extracting would restore the deleted stale files and
# force a full rebuild, so an existing tree (and its build/ directory) is kept.
if [[ ! -f $SRC_DIR/.mfb_extracted || $(<"$SRC_DIR/.mfb_extracted") != "$CAFFE_SDIST_SHA256" ]]; then
  info "extracting into $SRC_DIR"
  rm -rf "$SRC_DIR"
  tar -xzf "$SDIST" -C "$TMP_WORK"
  [[ -d $TMP_WORK/$CAFFE_DIST-$CAFFE_VERSION ]] || die "unexpected layout in $SDIST"
  mv "$TMP_WORK/$CAFFE_DIST-$CAFFE_VERSION" "$SRC_DIR"
  echo "$CAFFE_SDIST_SHA256" >"$SRC_DIR/.mfb_extracted"
else
  info "source tree already extracted: $SRC_DIR"
fi

# ---- 5. source fixes ----------------------------------------------------------------------------------
step 5 "patch source tree"
# patch_text FILE OLD NEW : replace the single occurrence of OLD by NEW. A file that already holds NEW is left
# untouched (idempotent, keeps mtimes so make does not rebuild); no or several OLDs is a loud error.
patch_text() {
  py - "$@" <<'EOF'
import sys
path, old, new = sys.argv[1:4]
with open(path, encoding="utf-8") as f:
    text = f.read()
if new in text:
    print(f"    already patched: {path}")
    sys.exit(0)
n_old = text.count(old)
if n_old != 1:
    sys.exit(f"install_caffe.sh: cannot patch {path}: expected exactly one occurrence of {old!r}, found {n_old}")
with open(path, "w", encoding="utf-8") as f:
    f.write(text.replace(old, new))
print(f"    patched: {path}")
EOF
}
# (a) Stale protoc output shipped in the sdist; it shadows the caffe.pb.h/.cc that the build generates from
#     caffe.proto with the system protoc (and does not match the system libprotobuf).
for stale in include/caffe/proto/caffe.pb.h src/caffe/proto/caffe.pb.cc; do
  if [[ -e $SRC_DIR/$stale ]]; then rm -f "$SRC_DIR/$stale"; info "removed stale $stale"; fi
done
# (b) net.cpp includes a gtest header that the library does not need (and gtest is not built).
patch_text "$SRC_DIR/src/caffe/net.cpp" \
  '#include "caffe/test/test_caffe_main.hpp"' \
  '// (install_caffe.sh dropped the include of caffe/test/test_caffe_main.hpp here: gtest, unused)'
# (c) Debian names Boost.Python after the Python version; db_lmdb.cpp (built with -DUSE_LMDB) needs liblmdb.
patch_text "$SRC_DIR/python/CMakeLists.txt" \
  '-lboost_python -lhdf5_hl -lhdf5 -lopenblas)' \
  "-l$BOOST_PYTHON_LIB -lhdf5_hl -lhdf5 -lopenblas -llmdb)"

# ---- 6. configure ------------------------------------------------------------------------------------
step 6 "cmake"
info "log: $BUILD_DIR/cmake.log"
PY_INCLUDE=$(py -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NUMPY_INCLUDE=$(py -c 'import numpy; print(numpy.get_include())')
[[ -f $PY_INCLUDE/Python.h ]] || die "Python.h not found in $PY_INCLUDE (install the Python headers)"
CXX_FLAGS="-DUSE_LMDB -I$PY_INCLUDE -I$NUMPY_INCLUDE -I$HDF5_INCLUDE"
LINKER_FLAGS="-L$HDF5_LIBDIR"
mkdir -p "$BUILD_DIR"
# ANACONDA_HOME=/nonexistent: the top-level CMakeLists adds conda include/link dirs unconditionally.
# CMAKE_SKIP_RPATH: keep build-tree paths (and /nonexistent/lib) out of _caffe.so; it only needs system libs.
run_logged "$BUILD_DIR/cmake.log" cmake -S "$SRC_DIR" -B "$BUILD_DIR" \
  -DCMAKE_BUILD_TYPE=Release -DCPU_ONLY=ON -DBUILD_python=ON -DUSE_OPENCV=OFF -DUSE_LMDB=ON \
  -DANACONDA_HOME=/nonexistent -DCMAKE_SKIP_RPATH=ON \
  "-DCMAKE_CXX_FLAGS=$CXX_FLAGS" \
  "-DCMAKE_SHARED_LINKER_FLAGS=$LINKER_FLAGS" "-DCMAKE_MODULE_LINKER_FLAGS=$LINKER_FLAGS" \
  "-DCMAKE_EXE_LINKER_FLAGS=$LINKER_FLAGS"

# ---- 7. build -----------------------------------------------------------------------------------------
JOBS=$(nproc)
step 7 "make -j$JOBS pycaffe"
info "a few minutes from scratch; log: $BUILD_DIR/make.log"
SECONDS=0
run_logged "$BUILD_DIR/make.log" make -C "$BUILD_DIR" -j"$JOBS" pycaffe
info "built in ${SECONDS}s"
BUILT_PKG=$SRC_DIR/python/caffe
[[ -f $BUILT_PKG/_caffe.so && -f $BUILT_PKG/proto/caffe_pb2.py ]] \
  || die "build finished but $BUILT_PKG/_caffe.so or proto/caffe_pb2.py is missing"

# ---- 8. install and smoke test ------------------------------------------------------------------------
step 8 "install into $INSTALL_DIR"
STAGE=$SITE_PACKAGES/.caffe.mfb-staging
rm -rf "$STAGE"
cp -rL "$BUILT_PKG" "$STAGE"        # -L: _caffe.so is a symlink into build/lib
# The sdist ships Python 3.8 bytecode and the upstream unit tests; neither belongs in site-packages.
find "$STAGE" -name __pycache__ -type d -prune -exec rm -rf {} +
rm -rf "$STAGE/test"
# _caffe.so is self-contained (the Caffe sources are compiled into it; no libcaffe.so): only system libs.
LDD_OUT=$(ldd "$STAGE/_caffe.so")
if [[ $LDD_OUT == *"not found"* || $LDD_OUT == *"$CACHE_DIR"* ]]; then
  echo "$LDD_OUT" >&2
  die "_caffe.so has unresolved libraries or depends on the build tree"
fi
# Installed-copy patch (i): load _caffe with RTLD_DEEPBIND. TensorFlow exports its own protobuf symbols; when
# it is imported first, Caffe's text-format parser binds to them and caffe.Net() segfaults. __init__.py is
# the first code to run for any `import caffe...`, and its first line imports .pycaffe, whose
# `from ._caffe import ...` is the first load of the extension; loading it here first, with DEEPBIND, makes
# every later `from ._caffe import` reuse the already loaded module.
patch_text "$STAGE/__init__.py" \
  'from .pycaffe import Net, SGDSolver' \
  '# Added by mnist-framework-bench scripts/install_caffe.sh: load the extension with RTLD_DEEPBIND so that it
# binds to its own libprotobuf, not to the protobuf symbols TensorFlow exports (segfault in caffe.Net()).
import os as _os, sys as _sys
_mfb_dlopen_flags = _sys.getdlopenflags()
_sys.setdlopenflags(_mfb_dlopen_flags | _os.RTLD_DEEPBIND)
try:
    from . import _caffe
finally:
    _sys.setdlopenflags(_mfb_dlopen_flags)
del _os, _sys, _mfb_dlopen_flags
from .pycaffe import Net, SGDSolver'
# No other patch is needed: `import caffe` pulls in io.py (skimage.io, scipy.ndimage: step 3), net_spec.py
# (six, protobuf) and the freshly generated proto/caffe_pb2.py; nothing imports OpenCV. Only the optional
# caffe.draw module needs pydot, which is not installed.
# What was built, for reports (the stamp below is only a hash).
printf '%s %s (Caffe 1.0, CPU only)\n' "$CAFFE_DIST" "$CAFFE_VERSION" >"$STAGE/.mfb_source"
rm -rf "$INSTALL_DIR"
mv "$STAGE" "$INSTALL_DIR"

SMOKE_DIR=$TMP_WORK/smoke
mkdir -p "$SMOKE_DIR"
cat >"$SMOKE_DIR/net.prototxt" <<'EOF'
name: "mfb_smoke"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 28 dim: 28 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 10 } }
EOF
info "smoke test"
SMOKE_OUT=$(cd "$SMOKE_DIR" && GLOG_minloglevel=2 "$PYTHON" -c '
import caffe, sys
caffe.set_mode_cpu()
net = caffe.Net(sys.argv[1], caffe.TEST)
out = net.forward()
assert out["ip"].shape == (1, 10), out["ip"].shape
print(caffe.__file__)' "$SMOKE_DIR/net.prototxt")
[[ $SMOKE_OUT == "$INSTALL_DIR/__init__.py" ]] || die "smoke test imported caffe from $SMOKE_OUT, not $INSTALL_DIR"
echo "$STAMP" >"$STAMP_FILE"
echo "Caffe installed: $SMOKE_OUT"
