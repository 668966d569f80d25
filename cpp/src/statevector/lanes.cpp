// Rows across SIMD lanes (lanes.hpp): the forward pass, expectation values and the adjoint sweep of
// small registers, kLanes rows at a time. The sweep is the one of adjoint.cpp (Jones & Gacon), with every
// state, matrix and overlap held per lane; the per-row path stays for the other measurements and for
// registers wider than kLaneMaxWires.
//
// Each kernel loops over amplitude groups and, innermost, over the kLanes lanes with unit stride, so the
// compiler emits one vector instruction per complex-arithmetic step (multi-versioned for AVX-512 / AVX2 /
// baseline like the per-row kernels). A batch whose row count is not a multiple of kLanes fills the last
// block's spare lanes with copies of its last row and discards them.
#include <algorithm>
#include <cmath>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/statevector/apply_gate.hpp"
#include "pyqml/statevector/lanes.hpp"
#include "pyqml/statevector/simulator.hpp"
#include "for_rows.hpp"

namespace pyqml::sv {

constexpr int L = kLanes;

// The lane kernels are pure multiply-add chains: their AVX2 clone also uses FMA (x86-64-v3).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PYQML_NATIVE_BUILD)
#define PYQML_LANE_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define PYQML_LANE_CLONES
#endif

bool LanePlan::supports(const Program& program) {
    for (const OpKernel& k : program.kernels()) {
        if (k.kind == OpKernel::Diagonal) continue;
        const int nt = k.kind == OpKernel::ControlledX ? 1 : k.nt;
        if (nt < 1 || nt > 3 || k.nc + nt > 6) return false;
        if (k.kind != OpKernel::ControlledX && k.mat_size != (1 << (2 * nt))) return false;
    }
    return true;
}

LanePlan::LanePlan(const Program& program) {
    const int n = program.n_wires();
    const uint32_t size = uint32_t(1) << n;
    for (const OpKernel& k : program.kernels()) {
        LaneOp op;
        if (k.kind == OpKernel::Diagonal) {
            op.kind = LaneOp::Diag;
            op.dim = 1 << k.nt;
            op.local.resize(size);
            for (uint32_t i = 0; i < size; ++i) {
                unsigned local = 0;
                for (int a = 0; a < k.nt; ++a) local = (local << 1) | ((i >> k.bits[a]) & 1u);
                op.local[i] = uint8_t(local);
            }
        } else {
            const int nt = k.kind == OpKernel::ControlledX ? 1 : k.nt;
            const BlockLayout lay(k.bits, k.nc, k.bits + k.nc, nt);
            op.kind = k.kind == OpKernel::ControlledX ? LaneOp::SwapX : LaneOp::Block;
            op.dim = 1 << nt;
            for (int r = 0; r < op.dim; ++r) op.offs[r] = uint32_t(lay.offs[r]);
            const uint32_t groups = uint32_t(1) << (n - k.nc - nt);
            op.bases.resize(groups);
            for (uint32_t g = 0; g < groups; ++g)
                op.bases[g] = uint32_t(insert_zero_bits(g, lay.sorted, k.nc + nt) | lay.cmask);
        }
        ops_.push_back(std::move(op));
    }
    for (int bit = 0; bit < n; ++bit) {
        LaneOp op;
        op.kind = LaneOp::Block;
        op.dim = 2;
        op.offs[1] = uint32_t(1) << bit;
        const int sorted[1] = {bit};
        for (uint32_t g = 0; g < size / 2; ++g) op.bases.push_back(uint32_t(insert_zero_bits(g, sorted, 1)));
        single_.push_back(std::move(op));
    }
}

namespace {

// kLanes values of one amplitude (or matrix entry) as one vector (GCC/Clang vector extensions, lowered to
// AVX-512, AVX2 or SSE2 registers by each clone); 8-byte alignment so any lane row of a buffer can be read.
template <class F>
struct Vec;
template <>
struct Vec<double> {
    typedef double type __attribute__((vector_size(kLanes * sizeof(double)), aligned(8)));
};
template <>
struct Vec<float> {
    typedef float type __attribute__((vector_size(kLanes * sizeof(float)), aligned(4)));
};
typedef double vd __attribute__((vector_size(kLanes * sizeof(double)), aligned(8)));
template <class F>
using V = typename Vec<F>::type;

template <class F>
inline V<F>& at(F* p, size_t i) { return *reinterpret_cast<V<F>*>(p + i * L); }
template <class F>
inline const V<F>& at(const F* p, size_t i) { return *reinterpret_cast<const V<F>*>(p + i * L); }
template <class F>
inline vd widen(const V<F>& v) {
    if constexpr (std::is_same_v<F, double>) return v;
    else return __builtin_convertvector(v, vd);
}

// One lane block's states: re and im parts, amplitude-major, kLanes lanes innermost.
template <class F>
struct LaneState {
    F* re;
    F* im;
};

// Matrices of one op in lane layout: entry e of lane l at re[e * L + l].
template <class F>
struct LaneMat {
    const F* re;
    const F* im;
};

// psi <- M psi on every group of a block op (dim = 2^targets), per lane.
template <class F, int DIM>
PYQML_LANE_CLONES void block_apply(LaneState<F> s, const LaneOp& op, LaneMat<F> m) {
    V<F> mr[DIM * DIM], mi[DIM * DIM];
    for (int e = 0; e < DIM * DIM; ++e) {
        mr[e] = at(m.re, e);
        mi[e] = at(m.im, e);
    }
    for (uint32_t base : op.bases) {
        V<F> vr[DIM], vi[DIM];
        for (int c = 0; c < DIM; ++c) {
            vr[c] = at(s.re, base + op.offs[c]);
            vi[c] = at(s.im, base + op.offs[c]);
        }
        for (int r = 0; r < DIM; ++r) {
            V<F> ar = mr[r * DIM] * vr[0] - mi[r * DIM] * vi[0];
            V<F> ai = mr[r * DIM] * vi[0] + mi[r * DIM] * vr[0];
            for (int c = 1; c < DIM; ++c) {
                ar += mr[r * DIM + c] * vr[c] - mi[r * DIM + c] * vi[c];
                ai += mr[r * DIM + c] * vi[c] + mi[r * DIM + c] * vr[c];
            }
            at(s.re, base + op.offs[r]) = ar;
            at(s.im, base + op.offs[r]) = ai;
        }
    }
}

template <class F>
void swap_apply(LaneState<F> s, const LaneOp& op) {
    for (uint32_t base : op.bases) {
        std::swap(at(s.re, base), at(s.re, base + op.offs[1]));
        std::swap(at(s.im, base), at(s.im, base + op.offs[1]));
    }
}

template <class F>
PYQML_LANE_CLONES void diag_apply(LaneState<F> s, const LaneOp& op, LaneMat<F> m, uint32_t size) {
    for (uint32_t i = 0; i < size; ++i) {
        const V<F> dr = at(m.re, op.local[i]), di = at(m.im, op.local[i]);
        const V<F> r = at(s.re, i), im = at(s.im, i);
        at(s.re, i) = dr * r - di * im;
        at(s.im, i) = dr * im + di * r;
    }
}

template <class F>
void lane_apply(LaneState<F> s, const LaneOp& op, LaneMat<F> m, uint32_t size) {
    switch (op.kind) {
        case LaneOp::SwapX: swap_apply<F>(s, op); break;
        case LaneOp::Diag: diag_apply<F>(s, op, m, size); break;
        case LaneOp::Block:
            if (op.dim == 2) block_apply<F, 2>(s, op, m);
            else if (op.dim == 4) block_apply<F, 4>(s, op, m);
            else block_apply<F, 8>(s, op, m);
            break;
    }
}

// G[rc] (per lane, in double) = sum over groups of conj(lam[group, r]) phi[group, c]; diagonal ops only
// need G[d] = sum over amplitudes with local index d. G has op.dim^2 (block) or op.dim (diagonal) entries.
// Four lanes in double: the overlaps accumulate 2 * DIM^2 sums per lane, which fit in sixteen 256-bit
// registers only four lanes at a time, so they run over the block's lanes four at a time.
typedef double v4d __attribute__((vector_size(4 * sizeof(double)), aligned(8)));
typedef float v4f __attribute__((vector_size(4 * sizeof(float)), aligned(4)));
inline v4d load4(const double* p) { return *reinterpret_cast<const v4d*>(p); }
inline v4d load4(const float* p) { return __builtin_convertvector(*reinterpret_cast<const v4f*>(p), v4d); }

template <class F, int DIM>
PYQML_LANE_CLONES void block_overlap(LaneState<F> lam, LaneState<F> phi, const LaneOp& op, double* gr, double* gi) {
    for (int h = 0; h < L; h += 4) {
        v4d accr[DIM * DIM], acci[DIM * DIM];
        for (int e = 0; e < DIM * DIM; ++e) accr[e] = acci[e] = v4d{};
        for (uint32_t base : op.bases) {
            v4d lr[DIM], li[DIM], pr[DIM], pi[DIM];
            for (int r = 0; r < DIM; ++r) {
                const size_t i = size_t(base + op.offs[r]) * L + h;
                lr[r] = load4(lam.re + i);
                li[r] = load4(lam.im + i);
                pr[r] = load4(phi.re + i);
                pi[r] = load4(phi.im + i);
            }
            for (int r = 0; r < DIM; ++r)
                for (int c = 0; c < DIM; ++c) {
                    accr[r * DIM + c] += lr[r] * pr[c] + li[r] * pi[c];
                    acci[r * DIM + c] += lr[r] * pi[c] - li[r] * pr[c];
                }
        }
        for (int e = 0; e < DIM * DIM; ++e) {
            *reinterpret_cast<v4d*>(gr + e * L + h) = accr[e];
            *reinterpret_cast<v4d*>(gi + e * L + h) = acci[e];
        }
    }
}

template <class F>
PYQML_LANE_CLONES void diag_overlap(LaneState<F> lam, LaneState<F> phi, const LaneOp& op, uint32_t size, double* gr,
                                    double* gi) {
    for (int e = 0; e < op.dim; ++e) at(gr, e) = at(gi, e) = vd{};
    for (uint32_t i = 0; i < size; ++i) {
        const vd lr = widen<F>(at(lam.re, i)), li = widen<F>(at(lam.im, i));
        const vd pr = widen<F>(at(phi.re, i)), pi = widen<F>(at(phi.im, i));
        at(gr, op.local[i]) += lr * pr + li * pi;
        at(gi, op.local[i]) += lr * pi - li * pr;
    }
}

// <psi| sum_t P_t |psi> per lane, accumulated in double in amplitude order (as measure.hpp's expval).
template <class F>
void lane_expval(LaneState<F> s, uint32_t size, const std::vector<PauliMasks>& terms, double* out) {
    for (int l = 0; l < L; ++l) out[l] = 0.0;
    for (const PauliMasks& t : terms) {
        vd re{}, im{};
        for (uint32_t i = 0; i < size; ++i) {
            const uint32_t j = uint32_t(index_t(i) ^ t.xmask);
            const vd ar = widen<F>(at(s.re, j)), ai = widen<F>(at(s.im, j));
            const vd br = widen<F>(at(s.re, i)), bi = widen<F>(at(s.im, i));
            if (__builtin_popcountll(index_t(i) & t.zmask) & 1) {
                re -= ar * br + ai * bi;
                im -= ar * bi - ai * br;
            } else {
                re += ar * br + ai * bi;
                im += ar * bi - ai * br;
            }
        }
        for (int l = 0; l < L; ++l) out[l] += (t.phase * cplx(re[l], im[l])).real();
    }
}

// out += scale[l] * sum_t P_t psi per lane (scale == nullptr: 1).
template <class F>
void lane_accumulate_observable(LaneState<F> psi, uint32_t size, const std::vector<PauliMasks>& terms,
                                LaneState<F> out, const double* scale) {
    for (const PauliMasks& t : terms) {
        V<F> phr, phi_;
        for (int l = 0; l < L; ++l) {
            const cplx p = t.phase * (scale ? scale[l] : 1.0);
            phr[l] = F(p.real());
            phi_[l] = F(p.imag());
        }
        for (uint32_t i = 0; i < size; ++i) {
            const uint32_t j = uint32_t(index_t(i) ^ t.xmask);
            const V<F> pr = at(psi.re, i), pi = at(psi.im, i);
            const V<F> cr = (__builtin_popcountll(index_t(i) & t.zmask) & 1) ? -phr : phr;
            const V<F> ci = (__builtin_popcountll(index_t(i) & t.zmask) & 1) ? -phi_ : phi_;
            at(out.re, j) += cr * pr - ci * pi;
            at(out.im, j) += cr * pi + ci * pr;
        }
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// The batch loop over lane blocks: binds every lane's angles and matrices (Program::bind_matrices, then
// transposed into lane layout), runs the body on the block's states, carries errors out of the parallel
// region as for_rows does.
// ---------------------------------------------------------------------------------------------------

template <class F, class Body>
void Simulator::for_lane_blocks(const Batch& b, int states_per_block, bool with_derivs, Body&& body) const {
    const Circuit& c = program_.circuit();
    const int n = c.n_wires();
    const int64_t rows = b.rows;
    PYQML_REQUIRE(rows >= 0, "negative batch size");
    const int64_t blocks = (rows + L - 1) / L;
    const int threads = max_threads();
    const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, blocks)));
    const size_t size = size_t(1) << n;
    const size_t nm = program_.matrix_buffer_size();
    const double per_worker = double(states_per_block) * double(size) * L * 2 * sizeof(F) +
                              double(nm) * (L * 2 * sizeof(F) + L * sizeof(cplx));
    check_memory(double(workers) * per_worker, std::to_string(states_per_block) + " lane block(s) of " +
                                                   std::to_string(L) + " state vectors of " + std::to_string(n) +
                                                   " wires" + (workers > 1 ? " per thread" : ""));
    std::string error;
    bool failed = false, out_of_memory = false;
    auto record = [&](const std::string& what, bool oom) {
#pragma omp critical(pyqml_lane_error)
        {
            if (!failed) {
                error = what;
                out_of_memory = oom;
            }
            failed = true;
        }
    };
#pragma omp parallel num_threads(workers) if (workers > 1)
    {
        std::vector<double> angles;
        std::vector<cplx> mats;
        std::vector<F> lmats, states;
        try {
            angles.resize(size_t(L) * c.n_angles());
            mats.resize(nm * L);
            lmats.resize(nm * L * 2);
            states.resize(size_t(states_per_block) * size * L * 2);
        } catch (const std::bad_alloc&) {
            record("allocating lane blocks of " + std::to_string(n) + " wires failed (the system refused the memory)",
                   true);
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < blocks; ++blk) {
            if (failed) continue;
            const int64_t r0 = blk * L;
            const int valid = static_cast<int>(std::min<int64_t>(L, rows - r0));
            try {
                for (int l = 0; l < L; ++l) {
                    const int64_t r = r0 + std::min(l, valid - 1);
                    double* a = angles.data() + size_t(l) * c.n_angles();
                    if (b.angles) {
                        std::copy(b.angles + r * c.n_angles(), b.angles + (r + 1) * c.n_angles(), a);
                        for (int i = 0; i < c.n_angles(); ++i)
                            PYQML_REQUIRE(std::isfinite(a[i]), "angle is NaN or infinite in row " + std::to_string(r));
                    } else {
                        const double* w = b.weights_per_row ? b.weights + r * c.n_weights() : b.weights;
                        const double* x = b.inputs ? b.inputs + r * c.n_inputs() : nullptr;
                        c.bind(w, x, a);
                    }
                    program_.bind_matrices(a, mats.data() + size_t(l) * nm, with_derivs);
                }
                // Lane layout: entry e of every matrix at [e * L + l], real parts then imaginary parts.
                F* lre = lmats.data();
                F* lim = lmats.data() + nm * L;
                for (size_t e = 0; e < nm; ++e)
                    for (int l = 0; l < L; ++l) {
                        const cplx v = mats[size_t(l) * nm + e];
                        lre[e * L + l] = F(v.real());
                        lim[e * L + l] = F(v.imag());
                    }
                body(r0, valid, angles.data(), lre, lim, states.data());
            } catch (const std::bad_alloc&) {
                record("rows " + std::to_string(r0) + "..: an allocation failed (the system refused the memory)", true);
            } catch (const std::exception& e) {
                record(e.what(), false);
            }
        }
    }
    if (failed && out_of_memory) {
        const double est = double(workers) * per_worker;
        throw MemoryLimitExceeded(error + "; estimated " + std::to_string((long long)est) +
                                      " bytes, within the memory limit of " +
                                      std::to_string((long long)memory_limit_bytes()) + " bytes",
                                  est, memory_limit_bytes());
    }
    if (failed) throw InvalidInput(error);
}

// Forward pass from |0...0> on a lane block, with the Program's fused schedule (runs of single-wire gates
// multiplied into one 2x2 per lane first).
template <class F>
void Simulator::lane_forward(F* re, F* im, const F* lre, const F* lim) const {
    const LanePlan& plan = *lanes_;
    const int n = program_.n_wires();
    const uint32_t size = uint32_t(1) << n;
    std::fill(re, re + size_t(size) * L, F(0));
    std::fill(im, im + size_t(size) * L, F(0));
    for (int l = 0; l < L; ++l) re[l] = F(1);
    const LaneState<F> s{re, im};
    const auto& kernels = program_.kernels();
    for (const auto& item : program_.schedule()) {
        if (item.size() == 1) {
            const OpKernel& k = kernels[item[0]];
            lane_apply<F>(s, plan.ops()[item[0]], {lre + size_t(k.mat_offset) * L, lim + size_t(k.mat_offset) * L},
                          size);
            continue;
        }
        // acc = g_last ... g_first per lane.
        V<F> ar[4], ai[4];
        for (int l = 0; l < L; ++l) {
            ar[0][l] = ar[3][l] = F(1);
            ar[1][l] = ar[2][l] = F(0);
            for (int e = 0; e < 4; ++e) ai[e][l] = F(0);
        }
        for (int op : item) {
            const OpKernel& k = kernels[op];
            const F* mr = lre + size_t(k.mat_offset) * L;
            const F* mi = lim + size_t(k.mat_offset) * L;
            V<F> gr[4], gi[4];
            if (k.kind == OpKernel::Diagonal) {
                gr[0] = at(mr, 0);
                gi[0] = at(mi, 0);
                gr[3] = at(mr, 1);
                gi[3] = at(mi, 1);
                gr[1] = gi[1] = gr[2] = gi[2] = V<F>{};
            } else {
                for (int e = 0; e < 4; ++e) {
                    gr[e] = at(mr, e);
                    gi[e] = at(mi, e);
                }
            }
            V<F> rr[4], ri[4];
            for (int r = 0; r < 2; ++r)
                for (int cc = 0; cc < 2; ++cc) {
                    rr[2 * r + cc] = gr[2 * r] * ar[cc] - gi[2 * r] * ai[cc] + gr[2 * r + 1] * ar[2 + cc] -
                                     gi[2 * r + 1] * ai[2 + cc];
                    ri[2 * r + cc] = gr[2 * r] * ai[cc] + gi[2 * r] * ar[cc] + gr[2 * r + 1] * ai[2 + cc] +
                                     gi[2 * r + 1] * ar[2 + cc];
                }
            for (int e = 0; e < 4; ++e) {
                ar[e] = rr[e];
                ai[e] = ri[e];
            }
        }
        F fr[4 * L], fi[4 * L];
        for (int e = 0; e < 4; ++e) {
            at(fr, e) = ar[e];
            at(fi, e) = ai[e];
        }
        block_apply<F, 2>(s, plan.single(kernels[item[0]].bits[0]), {fr, fi});
    }
}

template <class F>
void Simulator::lane_expval_t(const Batch& b, double* out) const {
    const int n = program_.n_wires();
    const int no = n_observables();
    const size_t size = size_t(1) << n;
    for_lane_blocks<F>(b, 1, false, [&](int64_t r0, int valid, const double*, const F* lre, const F* lim, F* st) {
        F* re = st;
        F* im = st + size * L;
        lane_forward<F>(re, im, lre, lim);
        double v[L];
        for (int o = 0; o < no; ++o) {
            lane_expval<F>({re, im}, uint32_t(size), obs_[o], v);
            for (int l = 0; l < valid; ++l) out[(r0 + l) * no + o] = v[l];
        }
    });
}

template <class F>
void Simulator::lane_adjoint_t(const Batch& b, const double* cot, double* vals, double* dw, double* dx,
                               double* dangles) const {
    const Circuit& c = program_.circuit();
    const LanePlan& plan = *lanes_;
    const int n = c.n_wires();
    const int no = n_observables();
    const int na = c.n_angles();
    const uint32_t size = uint32_t(1) << n;
    const int nl = cot ? 1 : no;
    RowGradients out(c, b, nl, cot != nullptr, dw, dx, dangles);
    const auto& kernels = program_.kernels();
    const auto& ops = c.ops();
    const size_t mat_total = program_.mat_total();
    const size_t stop = program_.first_trainable_op();
    for_lane_blocks<F>(b, 1 + nl, true, [&](int64_t r0, int valid, const double*, const F* lre, const F* lim, F* st) {
        auto state = [&](int s) { return LaneState<F>{st + size_t(2 * s) * size * L, st + size_t(2 * s + 1) * size * L}; };
        LaneState<F> phi = state(0);
        lane_forward<F>(phi.re, phi.im, lre, lim);
        double v[L];
        for (int o = 0; o < no; ++o) {
            lane_expval<F>(phi, size, obs_[o], v);
            for (int l = 0; l < valid; ++l) vals[(r0 + l) * no + o] = v[l];
        }
        for (int s = 1; s <= nl; ++s) {
            std::fill(state(s).re, state(s).re + size_t(size) * L, F(0));
            std::fill(state(s).im, state(s).im + size_t(size) * L, F(0));
        }
        if (cot) {
            for (int o = 0; o < no; ++o) {
                double sc[L];
                for (int l = 0; l < L; ++l) sc[l] = cot[(r0 + std::min(l, valid - 1)) * no + o];
                lane_accumulate_observable<F>(phi, size, obs_[o], state(1), sc);
            }
        } else {
            for (int o = 0; o < no; ++o) lane_accumulate_observable<F>(phi, size, obs_[o], state(1 + o), nullptr);
        }
        // g[(lambda * na + angle) * L + lane]
        std::vector<double> g(size_t(nl) * na * L, 0.0);
        std::vector<double> gbuf(size_t(2) * (size_t(1) << std::max(6, n)) * L);
        double* gr = gbuf.data();
        double* gi = gbuf.data() + gbuf.size() / 2;
        for (size_t op = program_.n_ops(); op-- > stop;) {
            const OpKernel& k = kernels[op];
            const LaneOp& lop = plan.ops()[op];
            const LaneMat<F> inv{lre + (mat_total + k.mat_offset) * L, lim + (mat_total + k.mat_offset) * L};
            lane_apply<F>(phi, lop, inv, size);
            const int p0 = c.angle_offset(op);
            const int np = static_cast<int>(ops[op].params.size());
            for (int lam = 0; lam < nl; ++lam) {
                LaneState<F> ls = state(1 + lam);
                if (k.trainable_mask) {
                    int entries;
                    if (lop.kind == LaneOp::Diag) {
                        diag_overlap<F>(ls, phi, lop, size, gr, gi);
                        entries = lop.dim;
                    } else {
                        if (lop.dim == 2) block_overlap<F, 2>(ls, phi, lop, gr, gi);
                        else if (lop.dim == 4) block_overlap<F, 4>(ls, phi, lop, gr, gi);
                        else block_overlap<F, 8>(ls, phi, lop, gr, gi);
                        entries = lop.dim * lop.dim;
                    }
                    // d<H>/d angle_p = 2 Re sum_e dU_e G_e, per lane.
                    const size_t d0 = 2 * mat_total + size_t(k.dmat_offset);
                    for (int p = 0; p < np; ++p) {
                        if (!(k.trainable_mask & (1u << p))) continue;
                        const F* dr = lre + (d0 + size_t(p) * k.mat_size) * L;
                        const F* di = lim + (d0 + size_t(p) * k.mat_size) * L;
                        vd acc{};
                        for (int e = 0; e < entries; ++e)
                            acc += widen<F>(at(dr, e)) * at(gr, e) - widen<F>(at(di, e)) * at(gi, e);
                        at(g.data(), size_t(lam) * na + p0 + p) += 2.0 * acc;
                    }
                }
                if (op > stop) lane_apply<F>(ls, lop, inv, size);
            }
        }
        std::vector<double> grow(size_t(nl) * na);
        for (int l = 0; l < valid; ++l) {
            const int64_t r = r0 + l;
            for (int lam = 0; lam < nl; ++lam)
                for (int a = 0; a < na; ++a) grow[size_t(lam) * na + a] = g[(size_t(lam) * na + a) * L + l];
            out.take(r, grow.data());
        }
    });
    out.finish();
}

template void Simulator::lane_expval_t<double>(const Batch&, double*) const;
template void Simulator::lane_expval_t<float>(const Batch&, double*) const;
template void Simulator::lane_adjoint_t<double>(const Batch&, const double*, double*, double*, double*, double*) const;
template void Simulator::lane_adjoint_t<float>(const Batch&, const double*, double*, double*, double*, double*) const;

}  // namespace pyqml::sv
