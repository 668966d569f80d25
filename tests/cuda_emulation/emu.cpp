// The emulated runtime, cuBLAS (column-major strided-batched GEMM as the BLAS spec), and device status.
#include <cuda_runtime.h>
#include <cuComplex.h>
#include <complex>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>
#include "cublas.hpp"
#include "kernels.hpp"

static std::set<void*> g_live;
size_t g_free = size_t(1) << 30;
cudaError_t cudaMalloc(void** p, size_t b) { *p = std::malloc(b); std::memset(*p, 0x7f, b); g_live.insert(*p); return 0; }
cudaError_t cudaFree(void* p) { if (!g_live.erase(p)) std::abort(); std::free(p); return 0; }
cudaError_t cudaMemcpy(void* d, const void* s, size_t b, cudaMemcpyKind) { std::memcpy(d, s, b); return 0; }
cudaError_t cudaMemsetAsync(void* d, int v, size_t b, cudaStream_t) { std::memset(d, v, b); return 0; }
cudaError_t cudaMemGetInfo(size_t* f, size_t* t) {
    if (const char* e = std::getenv("EMU_FREE")) g_free = size_t(std::atof(e));
    *f = g_free; *t = g_free; return 0; }
cudaError_t cudaSetDevice(int) { return 0; }
cudaError_t cudaGetLastError() { return 0; }
const char* cudaGetErrorString(cudaError_t) { return "emu"; }
const char* cudaGetErrorName(cudaError_t) { return "emu"; }

namespace pyqml::cuda {
void check(int code, const char* what) { if (code) throw CudaError(what); }
bool built() { return true; }
bool available(std::string* r) { if (r) r->clear(); return true; }
int device_count() { return 1; }
std::string device_name(int) { return "emu"; }
void memory_info(int, double* f, double* t) { if (f) *f = double(g_free); if (t) *t = double(g_free); }

template <class T, class C>
static int gemm(void*, int ta, int tb, int m, int n, int k, const C* alpha, const C* A, int lda, long long sA,
                const C* B, int ldb, long long sB, const C* beta, C* Cm, int ldc, long long sC, int count) {
    using X = std::complex<T>;
    const X al(alpha->x, alpha->y), be(beta->x, beta->y);
    if ((ta == 0 && lda < m) || (ta == 1 && lda < k) || (tb == 0 && ldb < k) || (tb == 1 && ldb < n) || ldc < m) return 7;
    for (int q = 0; q < count; ++q) {
        const X* a = reinterpret_cast<const X*>(A + q * sA);
        const X* b = reinterpret_cast<const X*>(B + q * sB);
        X* c = reinterpret_cast<X*>(Cm + q * sC);
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i) {
                X s = 0;
                for (int p = 0; p < k; ++p) {
                    const X av = ta ? a[p + i * lda] : a[i + p * lda];
                    const X bv = tb ? b[j + p * ldb] : b[p + j * ldb];
                    s += av * bv;
                }
                c[i + j * ldc] = al * s + (be == X(0) ? X(0) : be * c[i + j * ldc]);
            }
    }
    return 0;
}
static int create(CublasHandle* h) { *h = (void*)1; return 0; }
static int destroy(CublasHandle) { return 0; }
static Cublas g_cb = [] {
    Cublas c;
    c.create = create; c.destroy = destroy;
    c.zgemm = gemm<double, cuDoubleComplex>;
    c.cgemm = gemm<float, cuComplex>;
    c.path = "emu";
    return c;
}();
std::string load_cublas(const std::vector<std::string>&) { return ""; }
const Cublas& cublas() { return g_cb; }
void check_cublas(int st, const char* what) { if (st) throw CudaError(std::string("cublas ") + what); }
}  // namespace pyqml::cuda
size_t emu_live() { return g_live.size(); }
