// Term batches: W contractions of one plan at once, every tensor element held as W real parts then W
// imaginary parts (contraction.hpp, "a batch of W contractions"). The terms of one light-cone structure share
// the plan and differ only in their gate values, so a batch of them runs the same pairwise steps, each one
// product over the batch whose multiply-adds are vector operations across the lanes: no per-term dispatch,
// no BLAS call per tiny product, and the gathers move whole lane blocks.
#include <algorithm>
#include <cstring>

#include "pyqml/common/errors.hpp"
#include "pyqml/tensornet/contraction.hpp"

namespace pyqml::tn {

namespace {

// The lane kernels are multiply-add chains over the lanes: clones per CPU, the AVX2 one with FMA.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PYQML_NATIVE_BUILD)
#define PYQML_TN_LANE_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define PYQML_TN_LANE_CLONES
#endif

// nb products C = op(A) op(B) over lane blocks (layout of batched_gemm, each element 2 W reals): A is m x k
// (k x m when ta), B is k x n (n x k when tb), C is m x n. Two columns of C at a time share A's loads.
template <class T, int W>
inline __attribute__((always_inline)) void lane_gemm_body(int64_t nb, bool ta, bool tb, int64_t m, int64_t n,
                                                          int64_t k, const T* a, const T* b, T* c) {
    constexpr int E = 2 * W;
    const int64_t sa = m * k, sb = k * n, sc = m * n;
    const int64_t ap = ta ? m : 1, bp = tb ? 1 : n, bjs = tb ? k : 1;
    for (int64_t q = 0; q < nb; ++q) {
        const T* aq = a + q * sa * E;
        const T* bq = b + q * sb * E;
        T* cq = c + q * sc * E;
        for (int64_t i = 0; i < m; ++i) {
            const T* ai = aq + (ta ? i : i * k) * E;
            int64_t j = 0;
            for (; j + 1 < n; j += 2) {
                const T* b0 = bq + j * bjs * E;
                const T* b1 = bq + (j + 1) * bjs * E;
                T r0[W] = {}, i0[W] = {}, r1[W] = {}, i1[W] = {};
                for (int64_t p = 0; p < k; ++p) {
                    const T* x = ai + p * ap * E;
                    const T* y0 = b0 + p * bp * E;
                    const T* y1 = b1 + p * bp * E;
                    for (int l = 0; l < W; ++l) {
                        const T xr = x[l], xi = x[W + l];
                        r0[l] += xr * y0[l] - xi * y0[W + l];
                        i0[l] += xr * y0[W + l] + xi * y0[l];
                        r1[l] += xr * y1[l] - xi * y1[W + l];
                        i1[l] += xr * y1[W + l] + xi * y1[l];
                    }
                }
                T* z0 = cq + (i * n + j) * E;
                T* z1 = z0 + E;
                for (int l = 0; l < W; ++l) {
                    z0[l] = r0[l];
                    z0[W + l] = i0[l];
                    z1[l] = r1[l];
                    z1[W + l] = i1[l];
                }
            }
            if (j < n) {
                const T* b0 = bq + j * bjs * E;
                T r0[W] = {}, i0[W] = {};
                for (int64_t p = 0; p < k; ++p) {
                    const T* x = ai + p * ap * E;
                    const T* y0 = b0 + p * bp * E;
                    for (int l = 0; l < W; ++l) {
                        const T xr = x[l], xi = x[W + l];
                        r0[l] += xr * y0[l] - xi * y0[W + l];
                        i0[l] += xr * y0[W + l] + xi * y0[l];
                    }
                }
                T* z0 = cq + (i * n + j) * E;
                for (int l = 0; l < W; ++l) {
                    z0[l] = r0[l];
                    z0[W + l] = i0[l];
                }
            }
        }
    }
}

PYQML_TN_LANE_CLONES void lane_gemm_d8(int64_t nb, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                                       const double* a, const double* b, double* c) {
    lane_gemm_body<double, 8>(nb, ta, tb, m, n, k, a, b, c);
}
PYQML_TN_LANE_CLONES void lane_gemm_f8(int64_t nb, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                                       const float* a, const float* b, float* c) {
    lane_gemm_body<float, 8>(nb, ta, tb, m, n, k, a, b, c);
}

template <class T, int W>
void lane_gemm(int64_t nb, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c) {
    if constexpr (W == 8 && sizeof(T) == 8) lane_gemm_d8(nb, ta, tb, m, n, k, a, b, c);
    else if constexpr (W == 8 && sizeof(T) == 4) lane_gemm_f8(nb, ta, tb, m, n, k, a, b, c);
    else lane_gemm_body<T, W>(nb, ta, tb, m, n, k, a, b, c);
}

// out[o] = in[t[o]] and out[t[i]] = in[i], a lane block (2 W reals) per element.
template <class T, int W>
void lane_gather(const T* in, const std::vector<uint32_t>& t, T* out) {
    constexpr int E = 2 * W;
    const int64_t n = static_cast<int64_t>(t.size());
    for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * E, in + int64_t(t[i]) * E, sizeof(T) * E);
}
template <class T, int W>
void lane_scatter(const T* in, const std::vector<uint32_t>& t, T* out) {
    constexpr int E = 2 * W;
    const int64_t n = static_cast<int64_t>(t.size());
    for (int64_t i = 0; i < n; ++i) std::memcpy(out + int64_t(t[i]) * E, in + i * E, sizeof(T) * E);
}

}  // namespace

template <class T, int W>
void ContractionPlan::fill_gate_lanes(T* ws, int gate, const cplx* const* m, bool gradients) const {
    PYQML_REQUIRE(sliced_.empty(), "term batches run unsliced plans only");
    if (gradients) gradient_layout();
    constexpr int E = 2 * W;
    const std::vector<int>& map = gate_map_[gate];
    const int kl = ket_leaf_[gate], bl = bra_leaf_[gate];
    T* ket = ws + slots_[kl].offset[gradients] * E;
    const int64_t nk = slots_[kl].size;
    for (int64_t t = 0; t < nk; ++t) {
        T* e = ket + t * E;
        const int src = map[t];
        for (int l = 0; l < W; ++l) {
            const cplx v = m[l][src];
            e[l] = T(v.real());
            e[W + l] = T(v.imag());
        }
    }
    if (bl < 0) return;
    T* bra = ws + slots_[bl].offset[gradients] * E;
    for (int64_t t = 0; t < nk; ++t) {
        const T* e = ket + t * E;
        T* o = bra + t * E;
        for (int l = 0; l < W; ++l) {
            o[l] = e[l];
            o[W + l] = -e[W + l];
        }
    }
}

template <class T, int W>
void ContractionPlan::fill_constants_lanes(T* ws, bool gradients) const {
    PYQML_REQUIRE(sliced_.empty(), "term batches run unsliced plans only");
    if (gradients) gradient_layout();
    constexpr int E = 2 * W;
    for (size_t i = 0; i < leaves_.size(); ++i) {
        const Leaf& lf = leaves_[i];
        if (lf.kind == LeafKind::KetGate || lf.kind == LeafKind::BraGate) continue;
        cplx d[4] = {0, 0, 0, 0};
        switch (lf.kind) {
            case LeafKind::Zero: d[0] = 1; break;
            case LeafKind::One: d[1] = 1; break;
            case LeafKind::PauliDiag: d[0] = 1; d[1] = -1; break;
            case LeafKind::Pauli:
                // element [bra index][ket index] = <a'|P|a>, as in fill_constants
                if (lf.letter == 'X') { d[1] = 1; d[2] = 1; }
                else if (lf.letter == 'Y') { d[1] = cplx(0, -1); d[2] = cplx(0, 1); }
                else if (lf.letter == 'I') { d[0] = 1; d[3] = 1; }
                else { d[0] = 1; d[3] = -1; }
                break;
            default: break;
        }
        T* out = ws + slots_[i].offset[gradients] * E;
        for (int64_t t = 0; t < slots_[i].size; ++t)
            for (int l = 0; l < W; ++l) {
                out[t * E + l] = T(d[t].real());
                out[t * E + W + l] = T(d[t].imag());
            }
    }
}

template <class T, int W>
void ContractionPlan::forward_lanes(T* ws, bool gradients, double* out) const {
    constexpr int E = 2 * W;
    const int lay = gradients ? 1 : 0;
    if (gradients) gradient_layout();
    for (const StepExec& ex : steps_) {
        const T* a = ws + slots_[ex.a].offset[lay] * E;
        const T* b = ws + slots_[ex.b].offset[lay] * E;
        T* c = ws + slots_[ex.out].offset[lay] * E;
        if (!ex.id_a) {
            lane_gather<T, W>(a, ex.perm_a, ws + ex.ga[lay] * E);
            a = ws + ex.ga[lay] * E;
        }
        if (!ex.id_b) {
            lane_gather<T, W>(b, ex.perm_b, ws + ex.gb[lay] * E);
            b = ws + ex.gb[lay] * E;
        }
        lane_gemm<T, W>(ex.nb, false, false, ex.m, ex.n, ex.k, a, b, c);
    }
    const T* root = ws + slots_.back().offset[lay] * E;
    for (int l = 0; l < W; ++l) out[l] = double(root[l]);
}

template <class T, int W>
void ContractionPlan::backward_lanes(T* ws) const {
    constexpr int E = 2 * W;
    gradient_layout();
    if (!need_adj_.back()) return;
    T* root = ws + slots_.back().adj * E;
    for (int l = 0; l < W; ++l) {
        root[l] = T(1);
        root[W + l] = T(0);
    }
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
        const StepExec& ex = *it;
        const bool na = need_adj_[ex.a], nb = need_adj_[ex.b];
        if (!na && !nb) continue;
        const T* cbar = ws + slots_[ex.out].adj * E;
        T* sc = ex.bgc >= 0 ? ws + ex.bgc * E : nullptr;
        if (na) {
            const T* b = ws + slots_[ex.b].offset[1] * E;
            if (!ex.id_b) {
                lane_gather<T, W>(b, ex.perm_b, ws + ex.bgb * E);
                b = ws + ex.bgb * E;
            }
            T* abar = ex.id_a ? ws + slots_[ex.a].adj * E : sc;
            lane_gemm<T, W>(ex.nb, false, true, ex.m, ex.k, ex.n, cbar, b, abar);
            if (!ex.id_a) lane_scatter<T, W>(sc, ex.perm_a, ws + slots_[ex.a].adj * E);
        }
        if (nb) {
            const T* a = ws + slots_[ex.a].offset[1] * E;
            if (!ex.id_a) {
                lane_gather<T, W>(a, ex.perm_a, ws + ex.bga * E);
                a = ws + ex.bga * E;
            }
            T* bbar = ex.id_b ? ws + slots_[ex.b].adj * E : sc;
            lane_gemm<T, W>(ex.nb, true, false, ex.k, ex.n, ex.m, a, cbar, bbar);
            if (!ex.id_b) lane_scatter<T, W>(sc, ex.perm_b, ws + slots_[ex.b].adj * E);
        }
    }
}

template <class T, int W>
void ContractionPlan::ket_gradient_lanes(const T* ws, int gate, const cplx* const* dm, double* out) const {
    constexpr int E = 2 * W;
    gradient_layout();
    const std::vector<int>& map = gate_map_[gate];
    const int kl = ket_leaf_[gate];
    const T* env = ws + slots_[kl].adj * E;
    double s[W] = {};
    for (int64_t t = 0; t < slots_[kl].size; ++t) {
        const T* e = env + t * E;
        const int src = map[t];
        for (int l = 0; l < W; ++l) {
            const cplx d = dm[l][src];
            s[l] += double(e[l]) * d.real() - double(e[W + l]) * d.imag();
        }
    }
    for (int l = 0; l < W; ++l) out[l] = 2.0 * s[l];
}

#define PYQML_TN_LANES_INSTANTIATE(T, W)                                                               \
    template void ContractionPlan::fill_gate_lanes<T, W>(T*, int, const cplx* const*, bool) const;     \
    template void ContractionPlan::fill_constants_lanes<T, W>(T*, bool) const;                       \
    template void ContractionPlan::forward_lanes<T, W>(T*, bool, double*) const;                     \
    template void ContractionPlan::backward_lanes<T, W>(T*) const;                                   \
    template void ContractionPlan::ket_gradient_lanes<T, W>(const T*, int, const cplx* const*, double*) const;
PYQML_TN_LANES_INSTANTIATE(double, 8)
PYQML_TN_LANES_INSTANTIATE(float, 8)

}  // namespace pyqml::tn
