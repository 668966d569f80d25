#!/usr/bin/env bash
# One script for a machine with a GPU (no network needed): builds pyqml with PYQML_CUDA=ON, runs the GPU
# tests (tests/gpu: state vector and tensor network) and the GPU bench (bench/gpu_bench.py), and writes
# everything to bench/results/gpu_<date>.txt. Every step has its own timeout; a failed step is reported
# and the later steps still run. The whole run is meant to take under 8 minutes on a 16-core machine with one GPU.
#
#   bash bench/gpu_check.sh            # full run
#   QUICK=1 bash bench/gpu_check.sh    # bench at 26 and 28 qubits only
#
# What it needs on the machine (all offline):
#   * nvcc (CUDA 12 or 13; CUDA_HOME or /usr/local/cuda) and cmake >= 3.18, a C++17 compiler;
#   * a Python (PYTHON, default python3) with numpy, opt_einsum, scipy-openblas32 and pytest importable,
#     and either scikit-build-core + pybind11 (pip install --no-build-isolation) or pybind11 alone (plain
#     cmake, the module staged next to a copy of the package);
#   * for the tensor network on the GPU, cuBLAS at run time: the toolkit's lib64/libcublas.so.13 (or .12) or
#     the nvidia-cublas wheel (in WHEELS, or installed); without it those tests fail naming what was tried;
#   * or a folder of wheels for those (WHEELS=dir, e.g. made elsewhere with
#     pip download -d wheels numpy opt_einsum scipy-openblas32 pybind11 scikit-build-core pytest),
#     installed with pip --no-index into the venv this script makes.
# A PYTHON that is itself a venv gets pyqml installed into it (non-editable); otherwise build/gpu-venv is made.
# CUDA_ARCH (default 90: H100/H200) picks the architectures compiled here; the shipped default is 80 and 90.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
STAMP=$(date -u +%Y-%m-%d_%H%M)
mkdir -p bench/results
OUT=${OUT_FILE:-$ROOT/bench/results/gpu_$STAMP.txt}
: > "$OUT"
PY=${PYTHON:-python3}
VENV=$ROOT/build/gpu-venv
ARCH=${CUDA_ARCH:-90}
JOBS=${JOBS:-$(nproc)}
export PATH=${CUDA_HOME:-/usr/local/cuda}/bin:$PATH
FAILED=()
T0=$(date +%s)

log() { echo "$@" | tee -a "$OUT"; }
# step NAME TIMEOUT_S COMMAND...: runs COMMAND with a timeout, output to the terminal and $OUT.
step() {
    local name=$1 limit=$2
    shift 2
    log ""
    log "=== $name (timeout ${limit}s, t=$(( $(date +%s) - T0 ))s)"
    local start=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$OUT"
    local rc=${PIPESTATUS[0]}
    log "=== $name: rc=$rc ($(( $(date +%s) - start ))s)"
    [ "$rc" -eq 0 ] || FAILED+=("$name (rc=$rc)")
    return "$rc"
}

log "# pyqml GPU check, $(date -u), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

step "environment" 60 bash -c "nvidia-smi || true; nvcc --version || true; cmake --version | head -1; \
    $PY --version; $PY -c 'import sys; print(sys.executable)'"

# A PYTHON that is already a venv is used as it is; otherwise a venv that sees the system's packages
# (offline: nothing is downloaded), plus WHEELS when given.
if $PY -c "import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)" 2>/dev/null; then
    VPY=$($PY -c "import sys; print(sys.executable)")
    log "using the venv of $VPY"
else
    step "venv" 120 bash -c "
        set -e
        [ -x '$VENV/bin/python' ] || $PY -m venv --system-site-packages '$VENV'"
    VPY=$VENV/bin/python
fi
step "packages" 120 bash -c "
    if [ -n '${WHEELS:-}' ]; then
        '$VPY' -m pip install -q --no-index --find-links '${WHEELS:-}' \
            numpy opt_einsum scipy-openblas32 pytest pybind11 scikit-build-core || true
        '$VPY' -m pip install -q --no-index --find-links '${WHEELS:-}' nvidia-cublas 2>/dev/null || true
    fi
    missing=0
    for m in numpy opt_einsum scipy_openblas32 pytest pybind11 scikit_build_core; do
        if '$VPY' -c \"import \$m\" 2>/dev/null; then echo \"have \$m\"; else echo \"MISSING \$m\"; [ \$m = scikit_build_core ] || missing=1; fi
    done
    exit \$missing"

if $VPY -c "import scikit_build_core, pybind11, scipy_openblas32" 2>/dev/null; then
    step "build (pip, PYQML_CUDA=ON, sm_$ARCH)" 420 env CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" \
        $VPY -m pip install --no-build-isolation --no-deps --no-index -Cbuild-dir=build/gpu \
        -C cmake.define.PYQML_CUDA=ON -C cmake.define.CMAKE_CUDA_ARCHITECTURES="$ARCH" .
    RUN=(env)
else
    # Plain cmake: the module is built and staged next to a copy of the Python package.
    step "build (cmake, PYQML_CUDA=ON, sm_$ARCH)" 420 bash -c "
        set -e
        cmake -S . -B build/gpu-cmake -DCMAKE_BUILD_TYPE=Release -DPYQML_BUILD_PYTHON=ON -DPYQML_CUDA=ON \
            -DCMAKE_CUDA_ARCHITECTURES='$ARCH' -DPython_EXECUTABLE='$VPY' \
            -Dpybind11_DIR=\$('$VPY' -m pybind11 --cmakedir)
        cmake --build build/gpu-cmake -j '$JOBS' --target _core
        rm -rf build/gpu-stage && mkdir -p build/gpu-stage && cp -r pyqml build/gpu-stage/
        cp build/gpu-cmake/_core*.so build/gpu-stage/pyqml/"
    RUN=(env PYTHONPATH="$ROOT/build/gpu-stage")
fi

step "import" 60 "${RUN[@]}" $VPY -c "
import pyqml, pyqml._core as c
print('pyqml from', pyqml.__file__)
print('CUDA built:', c.CUDA_BUILT, '| available:', c.cuda_available(), '|', c.cuda_unavailable_reason() or 'ok')
if c.cuda_available():
    f, t = c.cuda_memory_info(0)
    print('device 0:', c.cuda_device_name(0), f'{t / 2**30:.1f} GiB, {f / 2**30:.1f} GiB free')
if c.CUDA_BUILT:
    from pyqml.tensornet.executor import cublas_dirs
    print('cuBLAS (GPU tensor network):', c.cuda_cublas_load(cublas_dirs()) or 'loaded')
"

# The tests import the installed package (pytest's --import-mode=importlib from pyproject.toml).
step "tests/gpu" 240 "${RUN[@]}" $VPY -m pytest -q --no-header -p no:cacheprovider tests/gpu -rs

step "bench" 300 "${RUN[@]}" $VPY bench/gpu_bench.py ${QUICK:+--quick} --skip tn

# The tensor network (W3 / W4, GPU executor against the CPU executor on the same plans): its own step and timeout.
step "bench (tensor network)" 150 "${RUN[@]}" $VPY bench/gpu_bench.py ${QUICK:+--quick} --skip bandwidth,sel,w1

log ""
log "# total $(( $(date +%s) - T0 ))s; failed steps: ${FAILED[*]:-none}"
log "# output: $OUT"
[ ${#FAILED[@]} -eq 0 ]
