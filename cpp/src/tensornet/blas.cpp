#include "pyqml/tensornet/blas.hpp"

#include <atomic>

#ifdef PYQML_HAVE_BLAS
#include <cblas.h>
#endif

namespace pyqml::tn {

namespace {

// Below this many multiply-adds a plain loop beats the BLAS call overhead.
constexpr int64_t kBlasMinMacs = 4096;

// Loop orders keep the innermost loop contiguous in every operand for the three products the
// contraction uses: A.B (forward), C.B^T and A^T.C (backward).
template <class T>
void gemm_loop(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c, bool acc) {
    if (!acc)
        for (int64_t i = 0; i < m * n; ++i) c[i] = T(0);
    if (!ta && !tb) {  // c[i, j] += a[i, p] b[p, j]
        for (int64_t i = 0; i < m; ++i) {
            T* ci = c + i * n;
            for (int64_t p = 0; p < k; ++p) {
                const T av = a[i * k + p];
                const T* bp = b + p * n;
                for (int64_t j = 0; j < n; ++j) ci[j] += av * bp[j];
            }
        }
    } else if (!ta && tb) {  // c[i, j] += sum_p a[i, p] b[j, p]
        for (int64_t i = 0; i < m; ++i) {
            const T* ai = a + i * k;
            for (int64_t j = 0; j < n; ++j) {
                const T* bj = b + j * k;
                T s(0);
                for (int64_t p = 0; p < k; ++p) s += ai[p] * bj[p];
                c[i * n + j] += s;
            }
        }
    } else if (ta && !tb) {  // c[i, j] += a[p, i] b[p, j]
        for (int64_t p = 0; p < k; ++p) {
            const T* ap = a + p * m;
            const T* bp = b + p * n;
            for (int64_t i = 0; i < m; ++i) {
                const T av = ap[i];
                T* ci = c + i * n;
                for (int64_t j = 0; j < n; ++j) ci[j] += av * bp[j];
            }
        }
    } else {  // c[i, j] += a[p, i] b[j, p]
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                T s(0);
                for (int64_t p = 0; p < k; ++p) s += a[p * m + i] * b[j * k + p];
                c[i * n + j] += s;
            }
    }
}

}  // namespace

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c, bool acc) {
#ifdef PYQML_HAVE_BLAS
    if (m * n * k >= kBlasMinMacs) {
        const T alpha(1), beta(acc ? 1 : 0);
        const int lda = static_cast<int>(ta ? m : k), ldb = static_cast<int>(tb ? k : n), ldc = static_cast<int>(n);
        const auto ota = ta ? CblasTrans : CblasNoTrans, otb = tb ? CblasTrans : CblasNoTrans;
        if constexpr (sizeof(T) == 16)
            scipy_cblas_zgemm(CblasRowMajor, ota, otb, int(m), int(n), int(k), &alpha, a, lda, b, ldb, &beta, c, ldc);
        else
            scipy_cblas_cgemm(CblasRowMajor, ota, otb, int(m), int(n), int(k), &alpha, a, lda, b, ldb, &beta, c, ldc);
        return;
    }
#endif
    gemm_loop(ta, tb, m, n, k, a, b, c, acc);
}

template <class T>
void batched_gemm(int64_t nb, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c) {
    const int64_t sa = m * k, sb = k * n, sc = m * n;
    if (sa * n >= kBlasMinMacs) {
        for (int64_t q = 0; q < nb; ++q) gemm(ta, tb, m, n, k, a + q * sa, b + q * sb, c + q * sc);
        return;
    }
    if (m == 1 && n == 1) {  // dot products (k = 1: elementwise products)
        for (int64_t q = 0; q < nb; ++q) {
            T s(0);
            const T* aq = a + q * k;
            const T* bq = b + q * k;
            for (int64_t p = 0; p < k; ++p) s += aq[p] * bq[p];
            c[q] = s;
        }
        return;
    }
    for (int64_t q = 0; q < nb; ++q) gemm_loop(ta, tb, m, n, k, a + q * sa, b + q * sb, c + q * sc, false);
}

void set_blas_threads(int n) {
#ifdef PYQML_HAVE_BLAS
    // Changing OpenBLAS's thread count parks or wakes its pool: only do it when the count changes.
    static std::atomic<int> current{-1};
    n = n < 1 ? 1 : n;
    if (current.exchange(n) != n) scipy_openblas_set_num_threads(n);
#else
    (void)n;
#endif
}

template void batched_gemm<std::complex<double>>(int64_t, bool, bool, int64_t, int64_t, int64_t,
                                                 const std::complex<double>*, const std::complex<double>*,
                                                 std::complex<double>*);
template void batched_gemm<std::complex<float>>(int64_t, bool, bool, int64_t, int64_t, int64_t,
                                                const std::complex<float>*, const std::complex<float>*,
                                                std::complex<float>*);
template void gemm<std::complex<double>>(bool, bool, int64_t, int64_t, int64_t, const std::complex<double>*,
                                         const std::complex<double>*, std::complex<double>*, bool);
template void gemm<std::complex<float>>(bool, bool, int64_t, int64_t, int64_t, const std::complex<float>*,
                                        const std::complex<float>*, std::complex<float>*, bool);

}  // namespace pyqml::tn
