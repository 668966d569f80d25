#include "pyqml/tensornet/blas.hpp"

#include <atomic>

#ifdef PYQML_HAVE_BLAS
#include <cblas.h>
#endif

namespace pyqml::tn {

namespace {

// Below this many multiply-adds a plain loop beats the BLAS call overhead.
constexpr int64_t kBlasMinMacs = 4096;

template <class T>
void gemm_loop(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c, bool acc) {
    const int64_t sa_i = ta ? 1 : k, sa_p = ta ? m : 1;  // a(i, p)
    const int64_t sb_p = tb ? 1 : n, sb_j = tb ? k : 1;  // b(p, j)
    if (!acc)
        for (int64_t i = 0; i < m * n; ++i) c[i] = T(0);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t p = 0; p < k; ++p) {
            const T av = a[i * sa_i + p * sa_p];
            T* ci = c + i * n;
            const T* bp = b + p * sb_p;
            for (int64_t j = 0; j < n; ++j) ci[j] += av * bp[j * sb_j];
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

template void gemm<std::complex<double>>(bool, bool, int64_t, int64_t, int64_t, const std::complex<double>*,
                                         const std::complex<double>*, std::complex<double>*, bool);
template void gemm<std::complex<float>>(bool, bool, int64_t, int64_t, int64_t, const std::complex<float>*,
                                        const std::complex<float>*, std::complex<float>*, bool);

}  // namespace pyqml::tn
