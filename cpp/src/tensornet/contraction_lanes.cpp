// Term batches: W contractions of one plan at once, every tensor element held as W real parts then W
// imaginary parts (contraction.hpp, "a batch of W contractions"). The terms of one light-cone structure share
// the plan and differ only in their gate values, so a batch of them runs the same pairwise steps, each one
// product over the batch whose multiply-adds are vector operations across the lanes: no per-term dispatch,
// no BLAS call per tiny product. Each sweep (forward, and backward for gradients) is compiled once per plan
// into a lane program: every output element of every step as the list of operand element pairs whose
// products it sums, at the workspace offsets of the layout, so that a permuted operand is read in place (no
// gather copy, no scatter) and a batch runs the whole sweep as one loop of multiply-adds over the lanes, with
// no per-step loop nests (the 1-D chain's steps average under 30 multiply-adds: the loop nests and gathers,
// not the arithmetic, bounded the per-step products).
#include <algorithm>
#include <cstring>

#include "pyqml/common/errors.hpp"
#include "pyqml/tensornet/contraction.hpp"

namespace pyqml::tn {

namespace {

// The lane kernels are multiply-add chains over the lanes, compiled per instruction set and chosen at run
// time by the CPU's features (__builtin_cpu_supports). Not target_clones("arch=haswell"): its resolver tests
// the CPU model (__builtin_cpu_is), so an AMD CPU with AVX2 and FMA would run the baseline clone. The AVX-512
// build is the x86-64-v4 level (GCC >= 12; before, AVX-512F with AVX512VL and FMA named one by one): plain
// "avx512f" implies neither FMA nor AVX512VL, so it ran the multiply-adds as separate multiplies and adds.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PYQML_NATIVE_BUILD)
#define PYQML_TN_LANE_DISPATCH 1
#if __GNUC__ >= 12
#define PYQML_TN_TARGET_AVX512 __attribute__((target("arch=x86-64-v4")))
#else
#define PYQML_TN_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#endif
#endif

// A lane program over the workspace: ws[out[o]] = sum_p ws[x[p]] * ws[y[p]], a lane block per element.
template <class T, int W>
inline __attribute__((always_inline)) void lane_program_body(int64_t no, const uint32_t* out, const uint32_t* start,
                                                             const uint32_t* xs, const uint32_t* ys, T* ws) {
    constexpr int E = 2 * W;
    for (int64_t o = 0; o < no; ++o) {
        uint32_t p = start[o];
        const uint32_t pe = start[o + 1];
        T r[W], im[W];
        {
            const T* x = ws + int64_t(xs[p]) * E;
            const T* y = ws + int64_t(ys[p]) * E;
            for (int l = 0; l < W; ++l) {
                r[l] = x[l] * y[l] - x[W + l] * y[W + l];
                im[l] = x[l] * y[W + l] + x[W + l] * y[l];
            }
        }
        for (++p; p < pe; ++p) {
            const T* x = ws + int64_t(xs[p]) * E;
            const T* y = ws + int64_t(ys[p]) * E;
            for (int l = 0; l < W; ++l) {  // four multiply-adds into the accumulators
                r[l] += x[l] * y[l];
                r[l] -= x[W + l] * y[W + l];
                im[l] += x[l] * y[W + l];
                im[l] += x[W + l] * y[l];
            }
        }
        T* z = ws + int64_t(out[o]) * E;
        for (int l = 0; l < W; ++l) {
            z[l] = r[l];
            z[W + l] = im[l];
        }
    }
}

// The same program on real batches (ContractionPlan::constants_real): the W real parts of each element only.
// Its multiply-adds are those of lane_program_body with the imaginary parts at zero (the products of
// imaginary parts add exact zeros), in the same order, so the numbers are the same.
template <class T, int W>
inline __attribute__((always_inline)) void lane_program_real_body(int64_t no, const uint32_t* out,
                                                                  const uint32_t* start, const uint32_t* xs,
                                                                  const uint32_t* ys, T* ws) {
    constexpr int E = 2 * W;
    for (int64_t o = 0; o < no; ++o) {
        uint32_t p = start[o];
        const uint32_t pe = start[o + 1];
        T r[W];
        {
            const T* x = ws + int64_t(xs[p]) * E;
            const T* y = ws + int64_t(ys[p]) * E;
            for (int l = 0; l < W; ++l) r[l] = x[l] * y[l];
        }
        for (++p; p < pe; ++p) {
            const T* x = ws + int64_t(xs[p]) * E;
            const T* y = ws + int64_t(ys[p]) * E;
            for (int l = 0; l < W; ++l) r[l] += x[l] * y[l];
        }
        T* z = ws + int64_t(out[o]) * E;
        for (int l = 0; l < W; ++l) z[l] = r[l];
    }
}

template <class T, int W>
void lane_program_real_base(int64_t no, const uint32_t* out, const uint32_t* start, const uint32_t* xs,
                            const uint32_t* ys, T* ws) {
    lane_program_real_body<T, W>(no, out, start, xs, ys, ws);
}

template <class T, int W>
void lane_program_base(int64_t no, const uint32_t* out, const uint32_t* start, const uint32_t* xs, const uint32_t* ys,
                       T* ws) {
    lane_program_body<T, W>(no, out, start, xs, ys, ws);
}
#ifdef PYQML_TN_LANE_DISPATCH
template <class T, int W>
__attribute__((target("avx2,fma"))) void lane_program_avx2(int64_t no, const uint32_t* out, const uint32_t* start,
                                                            const uint32_t* xs, const uint32_t* ys, T* ws) {
    lane_program_body<T, W>(no, out, start, xs, ys, ws);
}
template <class T, int W>
PYQML_TN_TARGET_AVX512 void lane_program_avx512(int64_t no, const uint32_t* out, const uint32_t* start,
                                                const uint32_t* xs, const uint32_t* ys, T* ws) {
    lane_program_body<T, W>(no, out, start, xs, ys, ws);
}

template <class T, int W>
__attribute__((target("avx2,fma"))) void lane_program_real_avx2(int64_t no, const uint32_t* out,
                                                                 const uint32_t* start, const uint32_t* xs,
                                                                 const uint32_t* ys, T* ws) {
    lane_program_real_body<T, W>(no, out, start, xs, ys, ws);
}
template <class T, int W>
PYQML_TN_TARGET_AVX512 void lane_program_real_avx512(int64_t no, const uint32_t* out, const uint32_t* start,
                                                     const uint32_t* xs, const uint32_t* ys, T* ws) {
    lane_program_real_body<T, W>(no, out, start, xs, ys, ws);
}

// 2: AVX-512 with FMA, 1: AVX2 + FMA, 0: baseline (decided once), each tested as the features its build
// was compiled for.
int lane_isa() {
    static const int isa = [] {
        __builtin_cpu_init();
#if __GNUC__ >= 12
        const bool avx512 = __builtin_cpu_supports("x86-64-v4");
#else
        const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                            __builtin_cpu_supports("fma");
#endif
        return avx512 ? 2 : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    }();
    return isa;
}
#endif

template <class T, int W>
void lane_program_run(int64_t no, const uint32_t* out, const uint32_t* start, const uint32_t* xs, const uint32_t* ys,
                      T* ws, bool real) {
#ifdef PYQML_TN_LANE_DISPATCH
    using Fn = void (*)(int64_t, const uint32_t*, const uint32_t*, const uint32_t*, const uint32_t*, T*);
    static const Fn f[3] = {lane_program_base<T, W>, lane_program_avx2<T, W>, lane_program_avx512<T, W>};
    static const Fn fr[3] = {lane_program_real_base<T, W>, lane_program_real_avx2<T, W>,
                             lane_program_real_avx512<T, W>};
    (real ? fr : f)[lane_isa()](no, out, start, xs, ys, ws);
#else
    if (real) lane_program_real_base<T, W>(no, out, start, xs, ys, ws);
    else lane_program_base<T, W>(no, out, start, xs, ys, ws);
#endif
}

}  // namespace

const ContractionPlan::LaneProgram& ContractionPlan::lane_program(int which) const {
    std::call_once(lp_once_[which], [&] {
        auto p = std::make_unique<LaneProgram>();
        build_lane_program(which, *p);
        lp_[which] = std::move(p);
    });
    return *lp_[which];
}

void ContractionPlan::build_lane_program(int which, LaneProgram& pr) const {
    const bool grad = which >= 1;
    if (grad) gradient_layout();
    const int lay = grad ? 1 : 0;
    // Element e of tensor t in the operand order of a step (gathered index g): perm[g] (identity when empty).
    auto src = [](const std::vector<uint32_t>& perm, int64_t g) { return perm.empty() ? uint32_t(g) : perm[g]; };
    auto check = [](int64_t v) {
        PYQML_REQUIRE(v >= 0 && v < (int64_t(1) << 32), "a lane workspace over 2^32 elements");
        return uint32_t(v);
    };
    pr.start.push_back(0);
    auto emit_out = [&](int64_t off) {
        pr.out.push_back(check(off));
        pr.start.push_back(check(static_cast<int64_t>(pr.x.size())));
    };
    auto pair = [&](int64_t x, int64_t y) {
        pr.x.push_back(check(x));
        pr.y.push_back(check(y));
    };
    auto tables = [](const StepExec& ex, std::vector<uint32_t>& pa, std::vector<uint32_t>& pb) {
        pa = ex.id_a ? std::vector<uint32_t>() : gather_table(ex.a_order, static_cast<int>(ex.a_order.size()));
        pb = ex.id_b ? std::vector<uint32_t>() : gather_table(ex.b_order, static_cast<int>(ex.b_order.size()));
    };
    std::vector<uint32_t> pa, pb;
    if (which < 2) {
        // C[q, i, j] = sum_p A[q, i, p] B[q, p, j], with A and B read through their gather tables.
        for (const StepExec& ex : steps_) {
            tables(ex, pa, pb);
            const int64_t a0 = slots_[ex.a].offset[lay], b0 = slots_[ex.b].offset[lay], c0 = slots_[ex.out].offset[lay];
            for (int64_t q = 0; q < ex.nb; ++q)
                for (int64_t i = 0; i < ex.m; ++i)
                    for (int64_t j = 0; j < ex.n; ++j) {
                        for (int64_t p = 0; p < ex.k; ++p)
                            pair(a0 + src(pa, (q * ex.m + i) * ex.k + p), b0 + src(pb, (q * ex.k + p) * ex.n + j));
                        emit_out(c0 + (q * ex.m + i) * ex.n + j);
                    }
        }
        return;
    }
    // Backward, last step first: Abar[q, i, p] = sum_j Cbar[q, i, j] B[q, p, j] and
    // Bbar[q, p, j] = sum_i A[q, i, p] Cbar[q, i, j], each written at its own tensor's element (the gather
    // tables are bijections: every environment element is written once).
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
        const StepExec& ex = *it;
        const bool na = need_adj_[ex.a], nb = need_adj_[ex.b];
        if (!na && !nb) continue;
        tables(ex, pa, pb);
        const int64_t a0 = slots_[ex.a].offset[1], b0 = slots_[ex.b].offset[1], cb = slots_[ex.out].adj;
        if (na) {
            const int64_t ab = slots_[ex.a].adj;
            for (int64_t q = 0; q < ex.nb; ++q)
                for (int64_t i = 0; i < ex.m; ++i)
                    for (int64_t p = 0; p < ex.k; ++p) {
                        for (int64_t j = 0; j < ex.n; ++j)
                            pair(cb + (q * ex.m + i) * ex.n + j, b0 + src(pb, (q * ex.k + p) * ex.n + j));
                        emit_out(ab + src(pa, (q * ex.m + i) * ex.k + p));
                    }
        }
        if (nb) {
            const int64_t bb = slots_[ex.b].adj;
            for (int64_t q = 0; q < ex.nb; ++q)
                for (int64_t p = 0; p < ex.k; ++p)
                    for (int64_t j = 0; j < ex.n; ++j) {
                        for (int64_t i = 0; i < ex.m; ++i)
                            pair(a0 + src(pa, (q * ex.m + i) * ex.k + p), cb + (q * ex.m + i) * ex.n + j);
                        emit_out(bb + src(pb, (q * ex.k + p) * ex.n + j));
                    }
        }
    }
}

template <class T, int W>
void ContractionPlan::fill_gate_lanes(T* ws, int gate, const cplx* const* m, bool gradients, bool real) const {
    PYQML_REQUIRE(sliced_.empty(), "term batches run unsliced plans only");
    if (gradients) gradient_layout();
    constexpr int E = 2 * W;
    const std::vector<int>& map = gate_map_[gate];
    const int kl = ket_leaf_[gate], bl = bra_leaf_[gate];
    T* ket = ws + slots_[kl].offset[gradients] * E;
    T* bra = bl < 0 ? nullptr : ws + slots_[bl].offset[gradients] * E;
    const int64_t nk = slots_[kl].size;
    if (real) {
        // Real parts only; the bra copy (the conjugate) is the same numbers.
        for (int64_t t = 0; t < nk; ++t) {
            T* e = ket + t * E;
            const int src = map[t];
            for (int l = 0; l < W; ++l) e[l] = T(m[l][src].real());
            if (bra)
                for (int l = 0; l < W; ++l) bra[t * E + l] = e[l];
        }
        return;
    }
    for (int64_t t = 0; t < nk; ++t) {
        T* e = ket + t * E;
        const int src = map[t];
        for (int l = 0; l < W; ++l) {
            const cplx v = m[l][src];
            e[l] = T(v.real());
            e[W + l] = T(v.imag());
        }
        if (!bra) continue;
        T* o = bra + t * E;
        for (int l = 0; l < W; ++l) {
            o[l] = e[l];
            o[W + l] = -e[W + l];
        }
    }
}

template <class T, int W>
void ContractionPlan::fill_constants_lanes(T* ws, bool gradients, bool real) const {
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
        for (int64_t t = 0; t < slots_[i].size; ++t) {
            for (int l = 0; l < W; ++l) out[t * E + l] = T(d[t].real());
            if (!real)
                for (int l = 0; l < W; ++l) out[t * E + W + l] = T(d[t].imag());
        }
    }
}

template <class T, int W>
void ContractionPlan::forward_lanes(T* ws, bool gradients, double* out, bool real) const {
    constexpr int E = 2 * W;
    const int lay = gradients ? 1 : 0;
    const LaneProgram& pr = lane_program(lay);
    lane_program_run<T, W>(static_cast<int64_t>(pr.out.size()), pr.out.data(), pr.start.data(), pr.x.data(),
                           pr.y.data(), ws, real);
    const T* root = ws + slots_.back().offset[lay] * E;
    for (int l = 0; l < W; ++l) out[l] = double(root[l]);
}

template <class T, int W>
void ContractionPlan::backward_lanes(T* ws, bool real) const {
    constexpr int E = 2 * W;
    gradient_layout();
    if (!need_adj_.back()) return;
    T* root = ws + slots_.back().adj * E;
    for (int l = 0; l < W; ++l) {
        root[l] = T(1);
        root[W + l] = T(0);
    }
    const LaneProgram& pr = lane_program(2);
    lane_program_run<T, W>(static_cast<int64_t>(pr.out.size()), pr.out.data(), pr.start.data(), pr.x.data(),
                           pr.y.data(), ws, real);
}

template <class T, int W>
void ContractionPlan::ket_gradient_lanes(const T* ws, int gate, const cplx* const* dm, double* out,
                                         bool real) const {
    constexpr int E = 2 * W;
    gradient_layout();
    const std::vector<int>& map = gate_map_[gate];
    const int kl = ket_leaf_[gate];
    const T* env = ws + slots_[kl].adj * E;
    double s[W] = {};
    if (real) {
        for (int64_t t = 0; t < slots_[kl].size; ++t) {
            const T* e = env + t * E;
            const int src = map[t];
            for (int l = 0; l < W; ++l) s[l] += double(e[l]) * dm[l][src].real();
        }
    } else {
        for (int64_t t = 0; t < slots_[kl].size; ++t) {
            const T* e = env + t * E;
            const int src = map[t];
            for (int l = 0; l < W; ++l) {
                const cplx d = dm[l][src];
                s[l] += double(e[l]) * d.real() - double(e[W + l]) * d.imag();
            }
        }
    }
    for (int l = 0; l < W; ++l) out[l] = 2.0 * s[l];
}

#define PYQML_TN_LANES_INSTANTIATE(T, W)                                                               \
    template void ContractionPlan::fill_gate_lanes<T, W>(T*, int, const cplx* const*, bool, bool) const;     \
    template void ContractionPlan::fill_constants_lanes<T, W>(T*, bool, bool) const;                       \
    template void ContractionPlan::forward_lanes<T, W>(T*, bool, double*, bool) const;                     \
    template void ContractionPlan::backward_lanes<T, W>(T*, bool) const;                                   \
    template void ContractionPlan::ket_gradient_lanes<T, W>(const T*, int, const cplx* const*, double*, bool) const;
PYQML_TN_LANES_INSTANTIATE(double, 8)
PYQML_TN_LANES_INSTANTIATE(float, 8)

}  // namespace pyqml::tn
