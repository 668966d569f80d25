#pragma once
// Matrix products for the pairwise contractions: BLAS (OpenBLAS from scipy-openblas32) for operands big
// enough to pay for the call, a plain loop below that. Row-major throughout.
#include <complex>
#include <cstdint>

namespace pyqml::tn {

// C[m x n] = op(A) op(B) (+ C when accumulate), op = transpose (never conjugate) when trans_* is set.
// A is m x k (k x m when trans_a), B is k x n (n x k when trans_b).
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c,
          bool accumulate = false);

// nb independent products, operand q at a + q*m*k, b + q*k*n, c + q*m*n (one call: small products in
// long batches, e.g. over hyperedge indices, do not pay a call each).
template <class T>
void batched_gemm(int64_t nb, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, const T* b,
                  T* c);

// OpenBLAS's (process-wide) thread count. The engine keeps it at one: its parallelism is OpenMP over terms
// and rows, and a count changed per call would let one call re-enable BLAS threads inside another call's
// OpenMP region (OpenBLAS then warns of a possible hang) and make results depend on concurrency.
void set_blas_threads(int n);

}  // namespace pyqml::tn
