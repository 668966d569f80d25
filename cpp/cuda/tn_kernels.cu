// The GPU tensor network's kernels (interface and the group layout in tn_kernels.hpp). Every kernel is a
// grid-stride loop over its work items; sums run in double, in the CPU engine's order (one thread per sum).
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels.hpp"
#include "tn_kernels.hpp"

namespace pyqml::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1 << 16;

// kernel<<<blocks, kThreads>>>(args...); a host emulation of these kernels (grid-stride loops run by one
// thread) may define it as a plain call.
#ifndef PYQML_TN_LAUNCH
#define PYQML_TN_LAUNCH(kernel, blocks, ...) kernel<<<(blocks), kThreads>>>(__VA_ARGS__)
#endif

template <class F>
struct alignas(2 * sizeof(F)) C2 {
    F x, y;
};

int blocks_for(int64_t work) {
    return int(std::max<int64_t>(1, std::min<int64_t>(kMaxBlocks, (work + kThreads - 1) / kThreads)));
}

struct Item {
    int64_t sl, r, t;
};
__device__ __forceinline__ Item item_of(const TnGroup& g, int64_t j) {
    const int64_t i = g.g0 + j;
    const int64_t p = i / g.ns;
    return Item{g.lo + i % g.ns, p / g.terms, p % g.terms};
}

// The full tensor's element of element t of a leaf at slice sl.
__device__ __forceinline__ int64_t full_element(const TnGroup& g, const TnLeaf& L, int64_t t, int64_t sl) {
    int64_t e = L.red >= 0 ? g.red[L.red + t] : t;
    for (int b = 0; b < L.nbits; ++b) {
        const int64_t k = g.bits[2 * (L.bits_at + b)], w = g.bits[2 * (L.bits_at + b) + 1];
        if ((sl >> k) & 1) e += w;
    }
    return e;
}

template <class F>
__global__ void k_fill(const TnGroup g) {
    using C = C2<F>;
    C* ws = static_cast<C*>(g.ws);
    const C2<double>* consts = static_cast<const C2<double>*>(g.consts);
    const C2<double>* rows = static_cast<const C2<double>*>(g.rows);
    const int64_t total = g.cnt * g.e_total;
    for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += int64_t(gridDim.x) * blockDim.x) {
        const int64_t j = idx / g.e_total, e = idx % g.e_total;
        const int leaf = g.elem_leaf[e];
        const TnLeaf& L = g.leaves[leaf];
        const int64_t t = e - L.start;
        const Item it = item_of(g, j);
        const int64_t full = full_element(g, L, t, it.sl);
        double re, im;
        if (L.kind == 0) {
            const int64_t s = g.src[it.t * g.n_gates + L.gate];
            const C2<double>* m = s >= 0 ? consts + s : rows + it.r * g.stride + (-1 - s);
            const C2<double> v = m[g.gmap[L.gmap + full]];
            re = v.x;
            im = L.conj ? -v.y : v.y;
        } else {
            re = L.c[2 * full];
            im = L.c[2 * full + 1];
        }
        ws[g.leaf_off[leaf] * g.cnt + j * L.size + t] = C{F(re), F(im)};
    }
}

template <class F>
__global__ void k_permute(const TnGroup g, int64_t src, int64_t dst, int64_t size, const uint32_t* perm,
                          bool scatter) {
    using C = C2<F>;
    C* ws = static_cast<C*>(g.ws);
    const C* in = ws + src * g.cnt;
    C* out = ws + dst * g.cnt;
    const int64_t total = g.cnt * size;
    for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += int64_t(gridDim.x) * blockDim.x) {
        const int64_t j = idx / size, o = idx % size;
        if (scatter) out[j * size + perm[o]] = in[j * size + o];
        else out[j * size + o] = in[j * size + perm[o]];
    }
}

template <class F>
__global__ void k_root(const TnGroup g, int64_t root, double* out) {
    const C2<F>* ws = static_cast<const C2<F>*>(g.ws);
    for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < g.cnt; j += int64_t(gridDim.x) * blockDim.x)
        out[j] = double(ws[root * g.cnt + j].x);
}

template <class F>
__global__ void k_set_one(const TnGroup g, int64_t off) {
    C2<F>* ws = static_cast<C2<F>*>(g.ws);
    for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < g.cnt; j += int64_t(gridDim.x) * blockDim.x)
        ws[off * g.cnt + j] = C2<F>{F(1), F(0)};
}

template <class F>
__global__ void k_grads(const TnGroup g, const TnGrad* grads, int ng, double* out) {
    const C2<F>* ws = static_cast<const C2<F>*>(g.ws);
    const C2<double>* rows = static_cast<const C2<double>*>(g.rows);
    const int64_t total = g.cnt * ng;
    for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += int64_t(gridDim.x) * blockDim.x) {
        const int64_t j = idx / ng;
        const int q = int(idx % ng);
        const TnGrad& gr = grads[q];
        const TnLeaf& L = g.leaves[gr.leaf];
        const Item it = item_of(g, j);
        const C2<F>* env = ws + g.leaf_adj[gr.leaf] * g.cnt + j * L.size;
        const C2<double>* dm = rows + it.r * g.stride + g.dsrc[it.t * g.n_gates + gr.gate] + gr.param * gr.msize;
        double s = 0;
        for (int64_t t = 0; t < L.size; ++t) {
            const C2<double> d = dm[g.gmap[L.gmap + full_element(g, L, t, it.sl)]];
            s += double(env[t].x) * d.x - double(env[t].y) * d.y;
        }
        out[j * ng + q] = gr.f * (2.0 * s);
    }
}

__global__ void k_accumulate(const TnGroup g, const double* item_v, const double* item_g, int ng,
                             const int64_t* term_id, const int64_t* term_goff, int64_t nt, int64_t total_grad,
                             double* vals, double* grads) {
    const int64_t p0 = g.g0 / g.ns, p1 = (g.g0 + g.cnt - 1) / g.ns;
    const int64_t total = (p1 - p0 + 1) * (1 + ng);
    for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += int64_t(gridDim.x) * blockDim.x) {
        const int64_t p = p0 + idx / (1 + ng);
        const int q = int(idx % (1 + ng));
        const int64_t a = p * g.ns, b = (p + 1) * g.ns, end = g.g0 + g.cnt;
        const int64_t i0 = a > g.g0 ? a : g.g0, i1 = b < end ? b : end;
        const int64_t r = p / g.terms, t = p % g.terms;
        double* dst = q == 0 ? vals + r * nt + term_id[t] : grads + r * total_grad + term_goff[t] + (q - 1);
        double acc = *dst;
        for (int64_t i = i0; i < i1; ++i) acc += q == 0 ? item_v[i - g.g0] : item_g[(i - g.g0) * ng + (q - 1)];
        *dst = acc;
    }
}

}  // namespace

template <class F>
void tn_fill(const TnGroup& g) {
    if (g.cnt <= 0 || g.e_total <= 0) return;
    PYQML_TN_LAUNCH(k_fill<F>, blocks_for(g.cnt * g.e_total), g);
    check(cudaGetLastError(), "the tensor-network fill kernel");
}

template <class F>
void tn_permute(const TnGroup& g, int64_t src, int64_t dst, int64_t size, const uint32_t* perm, bool scatter) {
    if (g.cnt <= 0) return;
    PYQML_TN_LAUNCH(k_permute<F>, blocks_for(g.cnt * size), g, src, dst, size, perm, scatter);
    check(cudaGetLastError(), "the tensor-network permutation kernel");
}

template <class F>
void tn_root(const TnGroup& g, int64_t root, double* out) {
    if (g.cnt <= 0) return;
    PYQML_TN_LAUNCH(k_root<F>, blocks_for(g.cnt), g, root, out);
    check(cudaGetLastError(), "the tensor-network root kernel");
}

template <class F>
void tn_set_one(const TnGroup& g, int64_t off) {
    if (g.cnt <= 0) return;
    PYQML_TN_LAUNCH(k_set_one<F>, blocks_for(g.cnt), g, off);
    check(cudaGetLastError(), "the tensor-network environment kernel");
}

template <class F>
void tn_grads(const TnGroup& g, const TnGrad* grads, int ng, double* out) {
    if (g.cnt <= 0 || ng <= 0) return;
    PYQML_TN_LAUNCH(k_grads<F>, blocks_for(g.cnt * ng), g, grads, ng, out);
    check(cudaGetLastError(), "the tensor-network gradient kernel");
}

void tn_accumulate(const TnGroup& g, const double* item_v, const double* item_g, int ng, const int64_t* term_id,
                   const int64_t* term_goff, int64_t nt, int64_t total_grad, double* vals, double* grads) {
    if (g.cnt <= 0) return;
    const int64_t pairs = (g.g0 + g.cnt - 1) / g.ns - g.g0 / g.ns + 1;
    PYQML_TN_LAUNCH(k_accumulate, blocks_for(pairs * (1 + ng)), g, item_v, item_g, ng, term_id, term_goff, nt,
                    total_grad, vals, grads);
    check(cudaGetLastError(), "the tensor-network accumulation kernel");
}

#define PYQML_TN_GPU_INSTANTIATE(F)                                                                  \
    template void tn_fill<F>(const TnGroup&);                                                        \
    template void tn_permute<F>(const TnGroup&, int64_t, int64_t, int64_t, const uint32_t*, bool);   \
    template void tn_root<F>(const TnGroup&, int64_t, double*);                                      \
    template void tn_set_one<F>(const TnGroup&, int64_t);                                            \
    template void tn_grads<F>(const TnGroup&, const TnGrad*, int, double*);
PYQML_TN_GPU_INSTANTIATE(double)
PYQML_TN_GPU_INSTANTIATE(float)

}  // namespace pyqml::cuda
