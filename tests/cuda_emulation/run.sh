#!/usr/bin/env bash
# The GPU tensor network's host code and kernels (cpp/cuda/tensornet_gpu.cpp, tn_kernels.cu) on a host
# emulation of the CUDA runtime and cuBLAS, against the CPU tensor-network executor on the same plans: no
# GPU or CUDA toolkit needed. The kernels are compiled as C++ (each grid-stride loop run by one thread),
# device memory is malloc'ed and filled with 0x7f bytes (a read of anything not written shows up as a huge
# value), cuBLAS's strided-batched GEMM is the column-major BLAS definition with its leading-dimension
# checks, and the free device memory is set per call so that groups hold 1-5 contractions (partial groups,
# groups across slices). Checks values, Jacobians and VJPs (shared and per-row weights, inputs) in complex128
# (1e-12) and complex64 (1e-5) on random circuits over every gate, a brickwork, sliced plans and recompute
# layouts; the memory guard; and that every device buffer is freed.
#
#   bash tests/cuda_emulation/run.sh [BUILD_DIR]    # BUILD_DIR: a CPU build's libpyqml_engine.a (build/dev)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/dev}
OUT=${OUT_DIR:-build/cuda-emulation}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
BLAS_DIR=$($PY -c "import scipy_openblas32 as s; print(s.get_lib_dir())")
BLAS_LIB=$($PY -c "import scipy_openblas32 as s; print(s.get_library())")
F=(-std=c++17 -O1 -g -fopenmp -DPYQML_HAVE_CUDA=1 -DPYQML_HAVE_OPENMP=1 -Itests/cuda_emulation -Icpp/include
   -Icpp/cuda -Itests/cpp)
g++ "${F[@]}" '-DPYQML_TN_LAUNCH(kernel,blocks,...)=kernel(__VA_ARGS__)' -x c++ -c cpp/cuda/tn_kernels.cu -o "$OUT/k.o" &
g++ "${F[@]}" -c cpp/cuda/tensornet_gpu.cpp -o "$OUT/t.o" &
g++ "${F[@]}" -c tests/cuda_emulation/emu.cpp -o "$OUT/e.o" &
g++ "${F[@]}" -c tests/cuda_emulation/drive.cpp -o "$OUT/d.o" &
wait
g++ -fopenmp "$OUT"/k.o "$OUT"/t.o "$OUT"/e.o "$OUT"/d.o "$BUILD/libpyqml_engine.a" -L"$BLAS_DIR" -l"$BLAS_LIB" \
    -Wl,-rpath,"$BLAS_DIR" -o "$OUT/drive"
"$OUT/drive"
