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
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
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
#include "vector_width.hpp"

namespace pyqml::sv {

constexpr int L = kLanes;

// The lane kernels are pure multiply-add chains: their AVX2 clone also uses FMA (x86-64-v3). The clone is
// named by the x86-64-v3 feature level, which the resolver tests by CPU features; "arch=haswell" is
// dispatched by CPU model (__builtin_cpu_is), so every AMD CPU ran the baseline SSE2 clone. The AVX-512
// clone is the x86-64-v4 level for the same reason: a plain "avx512f" clone has neither FMA nor AVX512VL
// for the kernels' 256-bit vectors, so it ran them as separate multiplies and adds (with AVX512VL the
// 256-bit code also gets 32 registers). GCC before 12 has no feature levels in target_clones: plain AVX2
// there (dispatched by its feature bit, without FMA).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PYQML_NATIVE_BUILD)
#if __GNUC__ >= 12
#define PYQML_LANE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYQML_LANE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
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

LanePlan::LanePlan(const Program& program, const std::vector<std::vector<PauliMasks>>& observables) {
    const int n = program.n_wires();
    const uint32_t size = uint32_t(1) << n;
    const Circuit& c = program.circuit();
    const auto& kernels = program.kernels();
    // Binding recipes. Fixed ops' matrices do not depend on the row: bound here once (constant parameters
    // do not depend on the weights or inputs either, so zeros stand in for them).
    bool any_fixed = false;
    for (size_t i = 0; i < program.n_ops(); ++i) {
        const OpKernel& k = kernels[i];
        const Op& op = c.ops()[i];
        LaneBind b;
        using gates::GateId;
        if (k.kind == OpKernel::ControlledX) {
            b.kind = LaneBind::None;
        } else if (!k.trainable_mask) {
            b.kind = LaneBind::Fixed;
            any_fixed = true;
        } else if (op.gate == GateId::RX || op.gate == GateId::CRX) {
            b.kind = LaneBind::RotX;
            b.args = 1;
        } else if (op.gate == GateId::RY || op.gate == GateId::CRY) {
            b.kind = LaneBind::RotY;
            b.args = 1;
        } else if (op.gate == GateId::RZ || op.gate == GateId::CRZ) {
            b.kind = LaneBind::RotZ;
            b.args = 1;
            b.lead = op.gate == GateId::CRZ ? 2 : 0;
        } else if (op.gate == GateId::PhaseShift || op.gate == GateId::ControlledPhaseShift) {
            b.kind = LaneBind::Phase;
            b.args = 1;
            b.lead = op.gate == GateId::ControlledPhaseShift ? 3 : 1;
        } else if (op.gate == GateId::Rot || op.gate == GateId::CRot) {
            b.kind = LaneBind::Rot;
            b.args = 3;
        }
        if (b.kind != LaneBind::None && b.kind != LaneBind::Fixed) {
            b.row_shared = true;
            for (const ParamRef& r : op.params) b.row_shared = b.row_shared && r.kind != ParamRef::Input;
            any_shared_ = any_shared_ || b.row_shared;
        }
        binds_.push_back(b);
    }
    // The sine/cosine arguments: the per-row ops' first (one contiguous range a block binds), then the
    // row-shared ones'.
    for (size_t i = 0; i < binds_.size(); ++i) {
        LaneBind& b = binds_[i];
        if (b.kind == LaneBind::None || b.kind == LaneBind::Fixed) continue;
        bound_ops_.push_back(int(i));
        if (b.row_shared) {
            shared_ops_.push_back(int(i));
            continue;
        }
        row_ops_.push_back(int(i));
        b.arg0 = n_args_;
        n_args_ += b.args;
        for (size_t k = 0; k < c.ops()[i].params.size(); ++k) {
            row_angles_.push_back(c.angle_offset(i) + int(k));
            row_angle_refs_.push_back(c.ops()[i].params[k]);
        }
    }
    n_row_args_ = n_args_;
    for (int i : shared_ops_) {
        binds_[size_t(i)].arg0 = n_args_;
        n_args_ += binds_[size_t(i)].args;
    }
    if (any_fixed) {
        std::vector<double> w(size_t(c.n_weights()), 0.0), x(size_t(c.n_inputs()), 0.0), a(size_t(c.n_angles()));
        c.bind(w.data(), x.data(), a.data());
        fixed_.resize(program.matrix_buffer_size());
        program.bind_matrices(a.data(), fixed_.data(), false);
    }

    // The logical amplitude groups of a block on nt targets (controls set): group g, local index r at
    // out[g * 2^nt + r].
    auto logical_groups = [&](const int* bits, int nc, int nt, std::vector<uint32_t>& out) {
        const BlockLayout lay(bits, nc, bits + nc, nt);
        const int dim = 1 << nt;
        const uint32_t groups = uint32_t(1) << (n - nc - nt);
        out.resize(size_t(groups) * dim);
        for (uint32_t g = 0; g < groups; ++g) {
            const uint32_t base = uint32_t(insert_zero_bits(g, lay.sorted, nc + nt) | lay.cmask);
            for (int r = 0; r < dim; ++r) out[size_t(g) * dim + r] = base + uint32_t(lay.offs[r]);
        }
    };
    // Whether op is relabelled, and then its action on logical indices: psi'[i] = psi[q[i]].
    std::vector<uint32_t> grp;
    auto permutation = [&](size_t op, std::vector<uint32_t>& q) {
        const OpKernel& k = kernels[op];
        if (k.kind == OpKernel::Diagonal) return false;
        const bool cx = k.kind == OpKernel::ControlledX;
        // Single-wire gates are multiplied into the forward pass's fused runs: they stay matrices.
        if (!cx && (binds_[op].kind != LaneBind::Fixed || k.nc + k.nt < 2)) return false;
        const int nt = cx ? 1 : k.nt;
        const int dim = 1 << nt;
        int sigma[8];
        if (cx) {
            sigma[0] = 1;
            sigma[1] = 0;
        } else {
            const cplx* m = fixed_.data() + k.mat_offset;
            unsigned used = 0;
            for (int r = 0; r < dim; ++r) {
                int col = -1;
                for (int cc = 0; cc < dim; ++cc) {
                    const cplx v = m[r * dim + cc];
                    if (v == cplx(1.0, 0.0) && col < 0) col = cc;
                    else if (v != cplx(0.0, 0.0)) return false;
                }
                if (col < 0 || (used & (1u << col))) return false;
                used |= 1u << col;
                sigma[r] = col;
            }
        }
        logical_groups(k.bits, k.nc, nt, grp);
        q.resize(size);
        for (uint32_t i = 0; i < size; ++i) q[i] = i;
        for (size_t g = 0; g < grp.size() / size_t(dim); ++g)
            for (int r = 0; r < dim; ++r) q[grp[g * dim + r]] = grp[g * dim + size_t(sigma[r])];
        return true;
    };
    // The op's tables through the map pi (stored index of each logical one).
    auto make_op = [&](const OpKernel& k, const std::vector<uint32_t>& pi) {
        LaneOp op;
        if (k.kind == OpKernel::Diagonal) {
            op.kind = LaneOp::Diag;
            op.dim = 1 << k.nt;
            op.local.resize(size);
            for (uint32_t i = 0; i < size; ++i) {
                unsigned local = 0;
                for (int a = 0; a < k.nt; ++a) local = (local << 1) | ((i >> k.bits[a]) & 1u);
                op.local[pi[i]] = uint8_t(local);
            }
        } else {
            const int nt = k.kind == OpKernel::ControlledX ? 1 : k.nt;
            op.kind = LaneOp::Block;
            op.dim = 1 << nt;
            logical_groups(k.bits, k.nc, nt, grp);
            op.idx.resize(grp.size());
            for (size_t j = 0; j < grp.size(); ++j) op.idx[j] = pi[grp[j]];
        }
        return op;
    };
    std::vector<uint32_t> q, tmp;
    auto compose = [&](std::vector<uint32_t>& pi) {  // pi <- pi o q
        tmp.resize(size);
        for (uint32_t i = 0; i < size; ++i) tmp[i] = pi[q[i]];
        pi.swap(tmp);
    };
    std::vector<char> perm(program.n_ops(), 0);
    std::vector<uint32_t> pi(size);
    for (uint32_t i = 0; i < size; ++i) pi[i] = i;
    // The sweep's tables, in circuit order.
    for (size_t i = 0; i < program.n_ops(); ++i) {
        if (permutation(i, q)) {
            perm[i] = 1;
            ++relabelled_;
            LaneOp op;
            op.kind = LaneOp::Perm;
            op.dim = 0;
            ops_.push_back(std::move(op));
            compose(pi);
        } else {
            ops_.push_back(make_op(kernels[i], pi));
        }
    }
    // The product-state prefix: single-wire ops (dense 2x2 or diagonal) before the first multi-wire op.
    const auto single_wire = [&](const OpKernel& k) {
        return k.nc + k.nt == 1 && (k.kind == OpKernel::Dense1 || k.kind == OpKernel::Diagonal) &&
               k.mat_size == (k.kind == OpKernel::Diagonal ? 2 : 4);
    };
    while (prefix_end_ < program.n_ops() && single_wire(kernels[prefix_end_])) ++prefix_end_;
    prefix_prev_.assign(prefix_end_, -1);
    prefix_next_.assign(prefix_end_, -1);
    prefix_last_.assign(size_t(n), -1);
    for (size_t i = 0; i < prefix_end_; ++i) {
        const int bit = kernels[i].bits[0];
        const int prev = prefix_last_[size_t(bit)];
        prefix_prev_[i] = prev;
        if (prev >= 0) prefix_next_[size_t(prev)] = int(i);
        prefix_last_[size_t(bit)] = int(i);
        for (size_t k = 0; k < c.ops()[i].params.size(); ++k)
            if (kernels[i].trainable_mask & (1u << k))
                prefix_params_.push_back({int(i), int(k), bit, c.angle_offset(i) + int(k),
                                          c.ops()[i].params[k].kind == ParamRef::Input});
    }
    // The forward schedule of the rest: runs of single-wire ops per wire, flushed when a multi-wire op
    // touches the wire (Program's fusion).
    {
        std::vector<std::vector<int>> pending(static_cast<size_t>(n));
        auto flush = [&](int w) {
            if (!pending[size_t(w)].empty()) sched_.push_back(std::move(pending[size_t(w)]));
            pending[size_t(w)].clear();
        };
        for (size_t i = prefix_end_; i < program.n_ops(); ++i) {
            const Op& o = c.ops()[i];
            if (o.wires.size() == 1) {
                pending[size_t(o.wires[0])].push_back(int(i));
            } else {
                for (int w : o.wires) flush(w);
                sched_.push_back({int(i)});
            }
        }
        for (int w = 0; w < n; ++w) flush(w);
    }
    // The forward schedule's tables: its single-wire runs may move past permutations on other wires, so
    // they are written through the map where the schedule applies them. The permutations themselves keep
    // their circuit order, so the map at the end is the sweep's.
    std::vector<uint32_t> pf(size);
    for (uint32_t i = 0; i < size; ++i) pf[i] = i;
    for (const auto& item : sched_) {
        const OpKernel& k = kernels[item[0]];
        if (item.size() > 1) {
            LaneOp op;
            op.kind = LaneOp::Block;
            op.dim = 2;
            logical_groups(k.bits, 0, 1, grp);
            op.idx.resize(grp.size());
            for (size_t j = 0; j < grp.size(); ++j) op.idx[j] = pf[grp[j]];
            fwd_.push_back(std::move(op));
        } else if (perm[item[0]]) {
            permutation(size_t(item[0]), q);
            compose(pf);
            fwd_.push_back(ops_[item[0]]);
        } else {
            fwd_.push_back(make_op(k, pf));
        }
    }
    PYQML_REQUIRE(pf == pi, "lane plan: the forward schedule and the circuit order end in different maps");
    // Kept forward states (lanes.hpp): a slot per trainable item when no item is a fused run.
    {
        bool single = true;
        int kept = 0;
        std::vector<int> slot(sched_.size(), -1);
        for (size_t it = 0; it < sched_.size(); ++it) {
            single = single && sched_[it].size() == 1;
            if (fwd_[it].kind != LaneOp::Perm && kernels[size_t(sched_[it][0])].trainable_mask) slot[it] = kept++;
        }
        if (single && kept > 0 && size_t(kept) * size <= size_t(kLaneKeptAmplitudes)) {
            n_kept_ = kept;
            kept_slot_ = std::move(slot);
        }
    }
    // The chain rule's references: the weights', then the inputs', in angle order; per part the reference of
    // each index when there is exactly one (lane_rows_onto, no sums).
    for (ParamRef::Kind kind : {ParamRef::Weight, ParamRef::Input})
        for (size_t i = 0; i < c.ops().size(); ++i)
            for (size_t k = 0; k < c.ops()[i].params.size(); ++k)
                if (c.ops()[i].params[k].kind == kind) {
                    const ParamRef& r = c.ops()[i].params[k];
                    chain_.push_back({c.angle_offset(i) + int(k), r.index, r.scale});
                    n_weight_refs_ += kind == ParamRef::Weight;
                }
    for (int part = 0; part < 2; ++part) {
        const int m = part == 0 ? c.n_weights() : c.n_inputs();
        const ChainRef* r = part == 0 ? chain_.data() : chain_.data() + n_weight_refs_;
        const int count = part == 0 ? n_weight_refs_ : int(chain_.size()) - n_weight_refs_;
        onto_[part].assign(size_t(m), ChainRef{-1, 0, 0.0});
        bool one = count == m;
        for (int a = 0; a < count && one; ++a) {
            one = onto_[part][size_t(r[a].index)].angle < 0;
            onto_[part][size_t(r[a].index)] = r[a];
        }
        if (!one) onto_[part].clear();
    }
    // The observables through the final map.
    std::vector<uint32_t> inv(size);
    for (uint32_t i = 0; i < size; ++i) inv[pi[i]] = i;
    all_diag_ = true;
    for (const auto& terms : observables) {
        LaneObservable o;
        o.diagonal = true;
        for (const PauliMasks& t : terms) o.diagonal = o.diagonal && t.xmask == 0 && t.phase.imag() == 0.0;
        if (o.diagonal) {
            o.diag.assign(size, 0.0);
            for (const PauliMasks& t : terms)
                for (uint32_t j = 0; j < size; ++j)
                    o.diag[j] += (__builtin_popcountll(index_t(inv[j]) & t.zmask) & 1) ? -t.phase.real() : t.phase.real();
        } else {
            for (const PauliMasks& t : terms) {
                LaneObservable::Term lt;
                lt.phase = t.phase;
                lt.partner.resize(size);
                lt.sign.resize(size);
                for (uint32_t j = 0; j < size; ++j) {
                    const index_t i = inv[j];
                    lt.partner[j] = pi[uint32_t(i ^ t.xmask)];
                    lt.sign[j] = (__builtin_popcountll(i & t.zmask) & 1) ? -1 : 1;
                }
                o.terms.push_back(std::move(lt));
            }
        }
        all_diag_ = all_diag_ && o.diagonal;
        obs_.push_back(std::move(o));
    }
}

// ---------------------------------------------------------------------------------------------------
// Vectorised sines and cosines for the lane binding (|x| <= pi: half angles reduced modulo 4 pi, phases
// modulo 2 pi, as gate_table.cpp reduces them). x = r + q pi/2 with q the nearest integer to 2x/pi (|q| <=
// 2, so every product q * P_i below is exact) and r = x - q (P1 + P2 + P3 + P3t), pi/2 split into 33-bit
// parts (fdlibm's __ieee754_rem_pio2): the first two subtractions are exact, so r carries about 150 bits of
// pi/2 and is accurate to an ulp of r even next to a multiple of pi/2. sin r and cos r on [-pi/4, pi/4] are
// fdlibm's __kernel_sin / __kernel_cos (error below one ulp). Branch-free, so every clone vectorises it.
// ---------------------------------------------------------------------------------------------------
PYQML_LANE_CLONES void lane_sincos(const double* __restrict x, size_t count, double* __restrict s,
                                   double* __restrict c) {
    constexpr double kTwoOverPi = 6.36619772367581382433e-01;
    constexpr double kShift = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
    constexpr double kP1 = 1.57079632673412561417e+00, kP2 = 6.07710050630396597660e-11,
                     kP3 = 2.02226624871116645580e-21, kP3t = 8.47842766036889956997e-32;
    constexpr double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                     S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                     S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    constexpr double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                     C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                     C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
    for (size_t i = 0; i < count; ++i) {
        const double v = x[i];
        const double t = v * kTwoOverPi + kShift;
        uint64_t bits;
        std::memcpy(&bits, &t, sizeof bits);
        const double q = t - kShift;
        double r = v - q * kP1;
        r = r - q * kP2;
        r = r - (q * kP3 + q * kP3t);
        const double z = r * r;
        const double sr = r + r * z * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
        const double hz = 0.5 * z, w = 1.0 - hz;
        const double cr = w + (((1.0 - w) - hz) + z * z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6))))));
        // sin x, cos x by quadrant q mod 4: (sin r, cos r), (cos r, -sin r), (-sin r, -cos r), (-cos r, sin r).
        const uint64_t quad = bits & 3u;
        const double ss = (quad & 1u) ? cr : sr;
        const double cc = (quad & 1u) ? sr : cr;
        s[i] = (quad & 2u) ? -ss : ss;
        c[i] = ((quad + 1u) & 2u) ? -cc : cc;
    }
}

namespace {

// The reductions of gate_table.cpp: within half a period an angle is its own remainder; std::remainder is
// exact. Half-angle parameters (exp(-i t G / 2)) have period 4 pi, phases 2 pi.
inline double half_angle(double t) {
    return 0.5 * (std::fabs(t) <= 2.0 * M_PI ? t : (std::isfinite(t) ? std::remainder(t, 4.0 * M_PI) : t));
}
inline double phase_angle(double t) {
    return std::fabs(t) <= M_PI ? t : (std::isfinite(t) ? std::remainder(t, 2.0 * M_PI) : t);
}

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

// ---------------------------------------------------------------------------------------------------
// Chunk width. The kernels below run over a block's kLanes lanes H at a time: H = 4 or 8 doubles, one 256- or
// 512-bit vector per value, the build chosen once per process (vector_width.hpp, vector_run).
// Each lane sees the same operations in the same order at either width.
// ---------------------------------------------------------------------------------------------------
typedef double v4d __attribute__((vector_size(4 * sizeof(double)), aligned(8)));
typedef float v4f __attribute__((vector_size(4 * sizeof(float)), aligned(4)));
typedef double v8d __attribute__((vector_size(8 * sizeof(double)), aligned(8)));
typedef float v8f __attribute__((vector_size(8 * sizeof(float)), aligned(4)));
#define PYQML_LANE_INLINE __attribute__((always_inline)) inline
template <class F, int H>
struct Chunk;
template <>
struct Chunk<double, 4> {
    typedef v4d type;
};
template <>
struct Chunk<double, 8> {
    typedef v8d type;
};
template <>
struct Chunk<float, 4> {
    typedef v4f type;
};
template <>
struct Chunk<float, 8> {
    typedef v8f type;
};
// H lanes of F, and H lanes in double.
template <class F, int H>
using WF = typename Chunk<F, H>::type;
template <int H>
using WD = typename Chunk<double, H>::type;
template <int H, class F>
PYQML_LANE_INLINE WF<F, H> ldw(const F* p) { return *reinterpret_cast<const WF<F, H>*>(p); }
template <int H, class F>
PYQML_LANE_INLINE void stw(F* p, const WF<F, H>& v) { *reinterpret_cast<WF<F, H>*>(p) = v; }
// H lanes of F read as double (widened), and H lanes of double stored as F.
template <int H, class F>
PYQML_LANE_INLINE WD<H> loadw(const F* p) {
    if constexpr (std::is_same_v<F, double>) return ldw<H>(p);
    else return __builtin_convertvector(ldw<H>(p), WD<H>);
}
template <int H, class F>
PYQML_LANE_INLINE void putw(F* p, const WD<H>& v) {
    if constexpr (std::is_same_v<F, double>) stw<H>(p, v);
    else stw<H>(p, __builtin_convertvector(v, WF<F, H>));
}
template <int H, class F>
PYQML_LANE_INLINE WD<H> widew(const WF<F, H>& v) {
    if constexpr (std::is_same_v<F, double>) return v;
    else return __builtin_convertvector(v, WD<H>);
}

// dst <- M src on every group of a block op (dim = 2^targets), per lane; dst == src in place (a group's
// amplitudes are all read before any is written).
// (Floats: eight lanes, one 256-bit vector, at either width.)
template <int H, class F, int DIM>
PYQML_LANE_INLINE void block_apply_h(LaneState<F> src, LaneState<F> dst, const LaneOp& op, LaneMat<F> m) {
    constexpr int NL = std::is_same_v<F, float> ? 8 : H;
    const uint32_t groups = op.groups();
    const uint32_t* __restrict idx = op.idx.data();
    for (int q = 0; q < L; q += NL) {
        WF<F, NL> mr[DIM * DIM], mi[DIM * DIM];
        for (int e = 0; e < DIM * DIM; ++e) {
            mr[e] = ldw<NL>(m.re + e * L + q);
            mi[e] = ldw<NL>(m.im + e * L + q);
        }
        for (uint32_t g = 0; g < groups; ++g) {
            const uint32_t* ix = idx + size_t(g) * DIM;
            WF<F, NL> vr[DIM], vi[DIM];
            for (int c = 0; c < DIM; ++c) {
                vr[c] = ldw<NL>(src.re + size_t(ix[c]) * L + q);
                vi[c] = ldw<NL>(src.im + size_t(ix[c]) * L + q);
            }
            for (int r = 0; r < DIM; ++r) {
                WF<F, NL> ar = mr[r * DIM] * vr[0] - mi[r * DIM] * vi[0];
                WF<F, NL> ai = mr[r * DIM] * vi[0] + mi[r * DIM] * vr[0];
                for (int c = 1; c < DIM; ++c) {
                    ar += mr[r * DIM + c] * vr[c] - mi[r * DIM + c] * vi[c];
                    ai += mr[r * DIM + c] * vi[c] + mi[r * DIM + c] * vr[c];
                }
                stw<NL>(dst.re + size_t(ix[r]) * L + q, ar);
                stw<NL>(dst.im + size_t(ix[r]) * L + q, ai);
            }
        }
    }
}
template <int DIM>
struct BlockApply {
    template <int H, class F>
    PYQML_LANE_INLINE static void run(LaneState<F> src, LaneState<F> dst, const LaneOp& op, LaneMat<F> m) {
        block_apply_h<H, F, DIM>(src, dst, op, m);
    }
};
template <class F, int DIM>
inline void block_apply(LaneState<F> src, LaneState<F> dst, const LaneOp& op, LaneMat<F> m) {
    vector_run<BlockApply<DIM>>(src, dst, op, m);
}

template <class F>
PYQML_LANE_CLONES void diag_apply(LaneState<F> src, LaneState<F> dst, const LaneOp& op, LaneMat<F> m, uint32_t size) {
    for (uint32_t i = 0; i < size; ++i) {
        const V<F> dr = at(m.re, op.local[i]), di = at(m.im, op.local[i]);
        const V<F> r = at(src.re, i), im = at(src.im, i);
        at(dst.re, i) = dr * r - di * im;
        at(dst.im, i) = dr * im + di * r;
    }
}

// dst <- op src (dst == src: in place). A block whose groups do not cover the state (controls) leaves the
// other amplitudes as they are: out of place they are copied first.
template <class F>
void lane_apply(LaneState<F> src, LaneState<F> dst, const LaneOp& op, LaneMat<F> m, uint32_t size) {
    if (src.re != dst.re && (op.kind == LaneOp::Perm || (op.kind == LaneOp::Block && op.idx.size() < size))) {
        std::memcpy(dst.re, src.re, size_t(size) * L * sizeof(F));
        std::memcpy(dst.im, src.im, size_t(size) * L * sizeof(F));
        if (op.kind == LaneOp::Perm) return;
        src = dst;
    }
    switch (op.kind) {
        case LaneOp::Perm: break;  // a relabelling (LanePlan): nothing moves
        case LaneOp::Diag: diag_apply<F>(src, dst, op, m, size); break;
        case LaneOp::Block:
            if (op.dim == 2) block_apply<F, 2>(src, dst, op, m);
            else if (op.dim == 4) block_apply<F, 4>(src, dst, op, m);
            else block_apply<F, 8>(src, dst, op, m);
            break;
    }
}
template <class F>
void lane_apply(LaneState<F> s, const LaneOp& op, LaneMat<F> m, uint32_t size) {
    lane_apply<F>(s, s, op, m, size);
}

// G[rc] (per lane, in double) = sum over groups of conj(lam[group, r]) phi[group, c]; diagonal ops only
// need G[d] = sum over amplitudes with local index d. G has op.dim^2 (block) or op.dim (diagonal) entries.
// In double, H lanes at a time (eight only for 2x2 blocks: the 2 * DIM^2 accumulators of the wider ones
// fill the registers at four).
template <int H0, class F, int DIM>
PYQML_LANE_INLINE void block_overlap_h(LaneState<F> lam, LaneState<F> phi, const LaneOp& op, double* gr, double* gi) {
    constexpr int H = DIM == 2 ? H0 : 4;
    for (int h = 0; h < L; h += H) {
        WD<H> accr[DIM * DIM], acci[DIM * DIM];
        for (int e = 0; e < DIM * DIM; ++e) accr[e] = acci[e] = WD<H>{};
        const uint32_t groups = op.groups();
        for (uint32_t g = 0; g < groups; ++g) {
            const uint32_t* ix = op.idx.data() + size_t(g) * DIM;
            WD<H> lr[DIM], li[DIM], pr[DIM], pi[DIM];
            for (int r = 0; r < DIM; ++r) {
                const size_t i = size_t(ix[r]) * L + h;
                lr[r] = loadw<H>(lam.re + i);
                li[r] = loadw<H>(lam.im + i);
                pr[r] = loadw<H>(phi.re + i);
                pi[r] = loadw<H>(phi.im + i);
            }
            for (int r = 0; r < DIM; ++r)
                for (int c = 0; c < DIM; ++c) {
                    accr[r * DIM + c] += lr[r] * pr[c] + li[r] * pi[c];
                    acci[r * DIM + c] += lr[r] * pi[c] - li[r] * pr[c];
                }
        }
        for (int e = 0; e < DIM * DIM; ++e) {
            putw<H>(gr + e * L + h, accr[e]);
            putw<H>(gi + e * L + h, acci[e]);
        }
    }
}
template <int DIM>
struct BlockOverlap {
    template <int H, class F>
    PYQML_LANE_INLINE static void run(LaneState<F> lam, LaneState<F> phi, const LaneOp& op, double* gr, double* gi) {
        block_overlap_h<H, F, DIM>(lam, phi, op, gr, gi);
    }
};
template <class F, int DIM>
inline void block_overlap(LaneState<F> lam, LaneState<F> phi, const LaneOp& op, double* gr, double* gi) {
    vector_run<BlockOverlap<DIM>>(lam, phi, op, gr, gi);
}



// One op of the adjoint sweep on a 2x2 block (a one-wire gate, or a singly controlled one through its bases)
// for one lambda, in one pass over the states: (update_phi) phi <- M phi, then G = <lam| . |phi> as
// block_overlap<F, 2>, then (update_lam) lam <- M lam, with M the op's inverse. Every group of phi and lam
// is read once instead of once per step; the arithmetic is the three steps' (the same operations in the
// same order per lane).
template <int H, class F, bool update_phi, bool update_lam>
PYQML_LANE_INLINE void block2_pass(LaneState<F> lam, LaneState<F> phi, const LaneOp& op, LaneMat<F> m, double* gr,
                                   double* gi) {
    const uint32_t groups = op.groups();
    const uint32_t* __restrict idx = op.idx.data();
    for (int h = 0; h < L; h += H) {
        WD<H> a0r{}, a0i{}, a1r{}, a1i{}, a2r{}, a2i{}, a3r{}, a3i{};
        const WF<F, H> m0r = ldw<H>(m.re + h), m1r = ldw<H>(m.re + L + h), m2r = ldw<H>(m.re + 2 * L + h),
                    m3r = ldw<H>(m.re + 3 * L + h);
        const WF<F, H> m0i = ldw<H>(m.im + h), m1i = ldw<H>(m.im + L + h), m2i = ldw<H>(m.im + 2 * L + h),
                    m3i = ldw<H>(m.im + 3 * L + h);
        for (uint32_t g = 0; g < groups; ++g) {
            const size_t i0 = size_t(idx[2 * g]) * L + h, i1 = size_t(idx[2 * g + 1]) * L + h;
            WF<F, H> p0r = ldw<H>(phi.re + i0), p0i = ldw<H>(phi.im + i0), p1r = ldw<H>(phi.re + i1), p1i = ldw<H>(phi.im + i1);
            // (Every product accumulated on its own: each step is one fused multiply-add.)
            if (update_phi) {
                WF<F, H> q0r = m0r * p0r, q0i = m0r * p0i, q1r = m2r * p0r, q1i = m2r * p0i;
                q0r -= m0i * p0i; q0i += m0i * p0r; q1r -= m2i * p0i; q1i += m2i * p0r;
                q0r += m1r * p1r; q0i += m1r * p1i; q1r += m3r * p1r; q1i += m3r * p1i;
                q0r -= m1i * p1i; q0i += m1i * p1r; q1r -= m3i * p1i; q1i += m3i * p1r;
                p0r = q0r; p0i = q0i; p1r = q1r; p1i = q1i;
                stw<H>(phi.re + i0, p0r); stw<H>(phi.im + i0, p0i); stw<H>(phi.re + i1, p1r); stw<H>(phi.im + i1, p1i);
            }
            const WF<F, H> l0r = ldw<H>(lam.re + i0), l0i = ldw<H>(lam.im + i0), l1r = ldw<H>(lam.re + i1), l1i = ldw<H>(lam.im + i1);
            {
                const WD<H> L0r = widew<H, F>(l0r), L0i = widew<H, F>(l0i), L1r = widew<H, F>(l1r), L1i = widew<H, F>(l1i);
                const WD<H> P0r = widew<H, F>(p0r), P0i = widew<H, F>(p0i), P1r = widew<H, F>(p1r), P1i = widew<H, F>(p1i);
                a0r += L0r * P0r; a0i += L0r * P0i; a1r += L0r * P1r; a1i += L0r * P1i;
                a2r += L1r * P0r; a2i += L1r * P0i; a3r += L1r * P1r; a3i += L1r * P1i;
                a0r += L0i * P0i; a0i -= L0i * P0r; a1r += L0i * P1i; a1i -= L0i * P1r;
                a2r += L1i * P0i; a2i -= L1i * P0r; a3r += L1i * P1i; a3i -= L1i * P1r;
            }
            if (update_lam) {
                WF<F, H> q0r = m0r * l0r, q0i = m0r * l0i, q1r = m2r * l0r, q1i = m2r * l0i;
                q0r -= m0i * l0i; q0i += m0i * l0r; q1r -= m2i * l0i; q1i += m2i * l0r;
                q0r += m1r * l1r; q0i += m1r * l1i; q1r += m3r * l1r; q1i += m3r * l1i;
                q0r -= m1i * l1i; q0i += m1i * l1r; q1r -= m3i * l1i; q1i += m3i * l1r;
                stw<H>(lam.re + i0, q0r); stw<H>(lam.im + i0, q0i); stw<H>(lam.re + i1, q1r); stw<H>(lam.im + i1, q1i);
            }
        }
        putw<H>(gr + h, a0r); putw<H>(gi + h, a0i);
        putw<H>(gr + L + h, a1r); putw<H>(gi + L + h, a1i);
        putw<H>(gr + 2 * L + h, a2r); putw<H>(gi + 2 * L + h, a2i);
        putw<H>(gr + 3 * L + h, a3r); putw<H>(gi + 3 * L + h, a3i);
    }
}

// block2_pass<H, F, false, update_lam> in two loops over the groups: the overlap (eight accumulators and the
// group's loads), then the lambda's update (the matrix and one group). In sixteen 256-bit registers the fused
// loop holds the matrix, the accumulators and both groups at once and spills; split, each loop fits. The same
// operations in the same order per lane as block2_pass (each lambda amplitude is read before it is updated).
// The op's parameter derivatives (param_derivs' arithmetic) come straight from the accumulators.
template <int H, class F, bool update_lam>
PYQML_LANE_INLINE void block2_pass_split(LaneState<F> lam, LaneState<F> phi, const LaneOp& op, LaneMat<F> m,
                                         const F* dr, const F* di, int msize, unsigned mask, int np, double* g) {
    const uint32_t groups = op.groups();
    const uint32_t* __restrict idx = op.idx.data();
    for (int h = 0; h < L; h += H) {
        WD<H> a0r{}, a0i{}, a1r{}, a1i{}, a2r{}, a2i{}, a3r{}, a3i{};
        for (uint32_t g = 0; g < groups; ++g) {
            const size_t i0 = size_t(idx[2 * g]) * L + h, i1 = size_t(idx[2 * g + 1]) * L + h;
            const WD<H> L0r = loadw<H>(lam.re + i0), L0i = loadw<H>(lam.im + i0), L1r = loadw<H>(lam.re + i1),
                        L1i = loadw<H>(lam.im + i1);
            const WD<H> P0r = loadw<H>(phi.re + i0), P0i = loadw<H>(phi.im + i0), P1r = loadw<H>(phi.re + i1),
                        P1i = loadw<H>(phi.im + i1);
            a0r += L0r * P0r; a0i += L0r * P0i; a1r += L0r * P1r; a1i += L0r * P1i;
            a2r += L1r * P0r; a2i += L1r * P0i; a3r += L1r * P1r; a3i += L1r * P1i;
            a0r += L0i * P0i; a0i -= L0i * P0r; a1r += L0i * P1i; a1i -= L0i * P1r;
            a2r += L1i * P0i; a2i -= L1i * P0r; a3r += L1i * P1i; a3i -= L1i * P1r;
        }
        for (int p = 0; p < np; ++p) {
            if (!(mask & (1u << p))) continue;
            const F* r = dr + size_t(p) * msize * L + h;
            const F* i = di + size_t(p) * msize * L + h;
            WD<H> acc{};
            acc += loadw<H>(r) * a0r - loadw<H>(i) * a0i;
            acc += loadw<H>(r + L) * a1r - loadw<H>(i + L) * a1i;
            acc += loadw<H>(r + 2 * L) * a2r - loadw<H>(i + 2 * L) * a2i;
            acc += loadw<H>(r + 3 * L) * a3r - loadw<H>(i + 3 * L) * a3i;
            putw<H>(g + p * L + h, loadw<H>(g + p * L + h) + 2.0 * acc);
        }
        if (!update_lam) continue;
        const WF<F, H> m0r = ldw<H>(m.re + h), m1r = ldw<H>(m.re + L + h), m2r = ldw<H>(m.re + 2 * L + h),
                       m3r = ldw<H>(m.re + 3 * L + h);
        const WF<F, H> m0i = ldw<H>(m.im + h), m1i = ldw<H>(m.im + L + h), m2i = ldw<H>(m.im + 2 * L + h),
                       m3i = ldw<H>(m.im + 3 * L + h);
        for (uint32_t g = 0; g < groups; ++g) {
            const size_t i0 = size_t(idx[2 * g]) * L + h, i1 = size_t(idx[2 * g + 1]) * L + h;
            const WF<F, H> l0r = ldw<H>(lam.re + i0), l0i = ldw<H>(lam.im + i0), l1r = ldw<H>(lam.re + i1),
                           l1i = ldw<H>(lam.im + i1);
            WF<F, H> q0r = m0r * l0r, q0i = m0r * l0i, q1r = m2r * l0r, q1i = m2r * l0i;
            q0r -= m0i * l0i; q0i += m0i * l0r; q1r -= m2i * l0i; q1i += m2i * l0r;
            q0r += m1r * l1r; q0i += m1r * l1i; q1r += m3r * l1r; q1i += m3r * l1i;
            q0r -= m1i * l1i; q0i += m1i * l1r; q1r -= m3i * l1i; q1i += m3i * l1r;
            stw<H>(lam.re + i0, q0r); stw<H>(lam.im + i0, q0i); stw<H>(lam.re + i1, q1r); stw<H>(lam.im + i1, q1i);
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

// <psi| H |psi> per lane for a non-diagonal observable, per term in double in amplitude order (as
// measure.hpp's expval), through the stored-layout tables.
template <class F>
PYQML_LANE_CLONES void lane_expval(LaneState<F> s, uint32_t size, const LaneObservable& o, double* out) {
    for (int l = 0; l < L; ++l) out[l] = 0.0;
    for (const LaneObservable::Term& t : o.terms) {
        vd re{}, im{};
        for (uint32_t i = 0; i < size; ++i) {
            const uint32_t j = t.partner[i];
            const vd ar = widen<F>(at(s.re, j)), ai = widen<F>(at(s.im, j));
            const vd br = widen<F>(at(s.re, i)), bi = widen<F>(at(s.im, i));
            if (t.sign[i] < 0) {
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

// out += scale[l] * H psi per lane for a non-diagonal observable (scale == nullptr: 1).
template <class F>
PYQML_LANE_CLONES void lane_accumulate_observable(LaneState<F> psi, uint32_t size, const LaneObservable& o,
                                                  LaneState<F> out, const double* scale) {
    for (const LaneObservable::Term& t : o.terms) {
        V<F> phr, phi_;
        for (int l = 0; l < L; ++l) {
            const cplx p = t.phase * (scale ? scale[l] : 1.0);
            phr[l] = F(p.real());
            phi_[l] = F(p.imag());
        }
        for (uint32_t i = 0; i < size; ++i) {
            const uint32_t j = t.partner[i];
            const V<F> pr = at(psi.re, i), pi = at(psi.im, i);
            const V<F> cr = t.sign[i] < 0 ? -phr : phr;
            const V<F> ci = t.sign[i] < 0 ? -phi_ : phi_;
            at(out.re, j) += cr * pr - ci * pi;
            at(out.im, j) += cr * pi + ci * pr;
        }
    }
}

// Every observable diagonal: one pass over psi gives every value, v[o * L + lane] = sum_j d_o[j] |psi_j|^2
// (in double), and (lams) the sweep's starting lambdas: lams[o] = d_o psi (Jacobian, nl = no), or with
// scale (VJP, nl = 1, scale[o * L + lane] the cotangents) lams[0] = (sum_o scale_o d_o) psi. Each lambda is
// written whole, so it needs no zero filling.
template <int H, class F>
PYQML_LANE_INLINE void lane_diagonal_pass_h(LaneState<F> psi, uint32_t size, const std::vector<LaneObservable>& obs,
                                          double* v, LaneState<F>* lams, const double* scale, double* p2) {
    const int no = static_cast<int>(obs.size());
    const F* __restrict pr = psi.re;
    const F* __restrict pi = psi.im;
    for (size_t i = 0; i < size_t(size) * L; i += H) {
        const WD<H> r = loadw<H>(pr + i), m = loadw<H>(pi + i);
        putw<H>(p2 + i, r * r + m * m);
    }
    for (int o = 0; o < no; ++o) {
        const double* __restrict d = obs[o].diag.data();
        // Accumulators of H lanes (one register each): on AVX2 8-lane values carried across the loop were
        // spilled through the stack.
        for (int h = 0; h < L; h += H) {
            WD<H> acc{};
            for (uint32_t j = 0; j < size; ++j) acc += d[j] * loadw<H>(p2 + size_t(j) * L + h);
            putw<H>(v + o * L + h, acc);
        }
        if (!lams || scale) continue;
        F* __restrict tr = lams[o].re;
        F* __restrict ti = lams[o].im;
        for (uint32_t j = 0; j < size; ++j) {
            const F df = F(d[j]);
            for (int h = 0; h < L; h += H) {
                const size_t i = size_t(j) * L + size_t(h);
                stw<H>(tr + i, df * ldw<H>(pr + i));
                stw<H>(ti + i, df * ldw<H>(pi + i));
            }
        }
    }
    if (!lams || !scale) return;
    // The VJP's lambda: (sum_o scale_o d_o) psi.
    F* __restrict tr = lams[0].re;
    F* __restrict ti = lams[0].im;
    for (uint32_t j = 0; j < size; ++j) {
        double sum[L] = {};
        for (int o = 0; o < no; ++o)
            for (int l = 0; l < L; ++l) sum[l] += obs[o].diag[j] * scale[o * L + l];
        for (int l = 0; l < L; ++l) {
            tr[size_t(j) * L + l] = F(sum[l]) * pr[size_t(j) * L + l];
            ti[size_t(j) * L + l] = F(sum[l]) * pi[size_t(j) * L + l];
        }
    }
}
struct DiagonalPass {
    template <int H, class F>
    PYQML_LANE_INLINE static void run(LaneState<F> psi, uint32_t size, const std::vector<LaneObservable>& obs, double* v, LaneState<F>* lams, const double* scale, double* p2) {
        lane_diagonal_pass_h<H, F>(psi, size, obs, v, lams, scale, p2);
    }
};
template <class F>
inline void lane_diagonal_pass(LaneState<F> psi, uint32_t size, const std::vector<LaneObservable>& obs, double* v, LaneState<F>* lams, const double* scale, double* p2) {
    vector_run<DiagonalPass>(psi, size, obs, v, lams, scale, p2);
}

}  // namespace

namespace {

// Writes the lane-layout matrices of one block: entry e of lane l of the Program's matrix buffer at
// re[e * L + l], im[e * L + l]. angles: L rows of n_angles. The Fixed ops' entries are written once per
// thread (lane_fixed), permutations have none.
template <class F>
struct LaneWriter {
    F* re;
    F* im;
    void put(size_t e, int l, double r, double i) const {
        re[e * L + l] = F(r);
        im[e * L + l] = F(i);
    }
};

template <class F>
void lane_fixed(const Program& prog, const LanePlan& plan, LaneWriter<F> w) {
    const std::vector<cplx>& fm = plan.fixed_matrices();
    const size_t mt = prog.mat_total();
    for (size_t op = 0; op < prog.n_ops(); ++op) {
        if (plan.binds()[op].kind != LaneBind::Fixed) continue;
        const OpKernel& k = prog.kernels()[op];
        for (int e = 0; e < k.mat_size; ++e)
            for (size_t base : {size_t(0), mt}) {
                const cplx v = fm[base + size_t(k.mat_offset) + size_t(e)];
                for (int l = 0; l < L; ++l) w.put(base + size_t(k.mat_offset) + size_t(e), l, v.real(), v.imag());
            }
    }
}

// Stores four lanes (from q on) of one matrix entry (in double) in an F lane buffer.
template <class F>
__attribute__((always_inline)) inline void putv(LaneWriter<F> w, size_t e, int q, const v4d& r, const v4d& i) {
    putw<4>(w.re + e * L + size_t(q), r);
    putw<4>(w.im + e * L + size_t(q), i);
}

// The rotations' matrices, inverses and (der) derivatives for all kLanes lanes from the sines S and
// cosines C of their half angles (phases: of the angle), at f, v and d of the lane matrix buffer.
template <class F>
PYQML_LANE_CLONES void lane_rotation(const LaneBind& b, unsigned mask, const double* C, const double* S, bool der,
                                     LaneWriter<F> w, size_t f, size_t v, size_t d) {
    for (int q = 0; q < L; q += 4) {
        const v4d z{};
        const v4d cc = loadw<4>(C + q), ss = loadw<4>(S + q);
        switch (b.kind) {
            case LaneBind::RotX:  // [[c, -i s], [-i s, c]], d/dt = [[-s/2, -i c/2], [-i c/2, -s/2]]
                putv(w, f, q, cc, z); putv(w, f + 1, q, z, -ss); putv(w, f + 2, q, z, -ss); putv(w, f + 3, q, cc, z);
                putv(w, v, q, cc, z); putv(w, v + 1, q, z, ss); putv(w, v + 2, q, z, ss); putv(w, v + 3, q, cc, z);
                if (der) {
                    putv(w, d, q, -ss / 2.0, z); putv(w, d + 1, q, z, -cc / 2.0);
                    putv(w, d + 2, q, z, -cc / 2.0); putv(w, d + 3, q, -ss / 2.0, z);
                }
                break;
            case LaneBind::RotY:  // [[c, -s], [s, c]], d/dt = [[-s/2, -c/2], [c/2, -s/2]]
                putv(w, f, q, cc, z); putv(w, f + 1, q, -ss, z); putv(w, f + 2, q, ss, z); putv(w, f + 3, q, cc, z);
                putv(w, v, q, cc, z); putv(w, v + 1, q, ss, z); putv(w, v + 2, q, -ss, z); putv(w, v + 3, q, cc, z);
                if (der) {
                    putv(w, d, q, -ss / 2.0, z); putv(w, d + 1, q, -cc / 2.0, z);
                    putv(w, d + 2, q, cc / 2.0, z); putv(w, d + 3, q, -ss / 2.0, z);
                }
                break;
            case LaneBind::RotZ:   // diag(1.., e^{-it/2}, e^{it/2}), d/dt = diag(0.., -i/2 e^{-it/2}, i/2 e^{it/2})
            case LaneBind::Phase: {  // diag(1.., e^{it}), d/dt = diag(0.., i e^{it})
                const v4d one = z + 1.0;
                for (int e = 0; e < b.lead; ++e) {
                    putv(w, f + size_t(e), q, one, z);
                    putv(w, v + size_t(e), q, one, z);
                    if (der) putv(w, d + size_t(e), q, z, z);
                }
                const size_t e = size_t(b.lead);
                if (b.kind == LaneBind::RotZ) {
                    putv(w, f + e, q, cc, -ss); putv(w, f + e + 1, q, cc, ss);
                    putv(w, v + e, q, cc, ss); putv(w, v + e + 1, q, cc, -ss);
                    if (der) {
                        putv(w, d + e, q, -ss / 2.0, -cc / 2.0);
                        putv(w, d + e + 1, q, -ss / 2.0, cc / 2.0);
                    }
                } else {
                    putv(w, f + e, q, cc, ss);
                    putv(w, v + e, q, cc, -ss);
                    if (der) putv(w, d + e, q, -ss, cc);
                }
                break;
            }
            case LaneBind::Rot: {
                // Rot(phi, theta, omega) = [[a c, -b s], [conj(b) s, conj(a) c]], a = conj(e^{i phi/2} e^{i omega/2}),
                // b = e^{i phi/2} conj(e^{i omega/2}), c, s of theta/2 (gate_table.cpp's rot_all).
                const v4d c0 = cc, s0 = ss, c1 = loadw<4>(C + L + q), s1 = loadw<4>(S + L + q), c2 = loadw<4>(C + 2 * L + q),
                          s2 = loadw<4>(S + 2 * L + q);
                const v4d ar = c0 * c2 - s0 * s2, ai = -(s0 * c2 + c0 * s2);
                const v4d br = c0 * c2 + s0 * s2, bi = s0 * c2 - c0 * s2;
                putv(w, f, q, ar * c1, ai * c1); putv(w, f + 1, q, -br * s1, -bi * s1);
                putv(w, f + 2, q, br * s1, -bi * s1); putv(w, f + 3, q, ar * c1, -ai * c1);
                putv(w, v, q, ar * c1, -ai * c1); putv(w, v + 1, q, br * s1, bi * s1);
                putv(w, v + 2, q, -br * s1, bi * s1); putv(w, v + 3, q, ar * c1, ai * c1);
                if (!der) break;
                if (mask & 1u) {  // d/dphi = diag(-i/2, i/2) on the columns' phases
                    putv(w, d, q, ai * c1 / 2.0, -ar * c1 / 2.0); putv(w, d + 1, q, bi * s1 / 2.0, -br * s1 / 2.0);
                    putv(w, d + 2, q, -bi * s1 / 2.0, -br * s1 / 2.0); putv(w, d + 3, q, ai * c1 / 2.0, ar * c1 / 2.0);
                }
                if (mask & 2u) {  // d/dtheta = [[-a s/2, -b c/2], [conj(b) c/2, -conj(a) s/2]]
                    putv(w, d + 4, q, -ar * s1 / 2.0, -ai * s1 / 2.0); putv(w, d + 5, q, -br * c1 / 2.0, -bi * c1 / 2.0);
                    putv(w, d + 6, q, br * c1 / 2.0, -bi * c1 / 2.0); putv(w, d + 7, q, -ar * s1 / 2.0, ai * s1 / 2.0);
                }
                if (mask & 4u) {  // d/domega
                    putv(w, d + 8, q, ai * c1 / 2.0, -ar * c1 / 2.0); putv(w, d + 9, q, -bi * s1 / 2.0, br * s1 / 2.0);
                    putv(w, d + 10, q, bi * s1 / 2.0, br * s1 / 2.0); putv(w, d + 11, q, ai * c1 / 2.0, ar * c1 / 2.0);
                }
                break;
            }
            default: break;
        }
    }
}

template <class T, class A>
T* sized(std::vector<T, A>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
}

struct BindScratch {
    std::vector<double> args, sn, cs, one;
    std::vector<cplx> m, dm;
};

// Which ops lane_bind writes: all, those whose matrices depend on the row (the others were bound once for
// the call), or only the row-shared ones (from any row's angles, in every lane).
enum class BindOps { All, PerRow, Shared };

template <class F>
void lane_bind(const Program& prog, const LanePlan& plan, const double* angles, bool with_derivs, BindScratch& sc,
               LaneWriter<F> w, BindOps which = BindOps::All) {
    const Circuit& c = prog.circuit();
    const int na = c.n_angles();
    const size_t mt = prog.mat_total();
    const auto& binds = plan.binds();
    const std::vector<int>& list = which == BindOps::All      ? plan.bound_ops()
                                   : which == BindOps::PerRow ? plan.row_ops()
                                                              : plan.shared_ops();
    double* args = sc.args.data();
    for (int op : list) {
        const LaneBind& b = binds[size_t(op)];
        if (!b.args) continue;
        const int off = c.angle_offset(size_t(op));
        double* ar = args + size_t(b.arg0) * L;
        // (Shared: the same angles in every lane, lane 0's read below.)
        for (int l = 0; l < (which == BindOps::Shared ? 1 : L); ++l) {
            const double* a = angles + size_t(l) * na + off;
            if (b.kind == LaneBind::Phase) ar[l] = phase_angle(a[0]);
            else
                for (int j = 0; j < b.args; ++j) ar[size_t(j) * L + l] = half_angle(a[j]);
        }
    }
    // One vectorised pass over the selected ops' arguments (the per-row ops' come first).
    const size_t a0 = which == BindOps::Shared ? size_t(plan.n_row_args()) : 0;
    const size_t a1 = which == BindOps::PerRow ? size_t(plan.n_row_args()) : size_t(plan.n_args());
    if (which == BindOps::Shared && a1 > a0) {
        // The same angles in every lane: one sine and cosine per argument, copied into the lanes.
        const size_t count = a1 - a0;
        double* x = sized(sc.one, 3 * count);  // lane 0's arguments, then their sines and cosines
        for (size_t k = 0; k < count; ++k) x[k] = args[(a0 + k) * L];
        double* sn1 = x + count;
        double* cs1 = sn1 + count;
        lane_sincos(x, count, sn1, cs1);
        for (size_t k = count; k-- > 0;) {
            const double sv = sn1[k], cv = cs1[k];
            for (int l = 0; l < L; ++l) {
                sc.sn[(a0 + k) * L + size_t(l)] = sv;
                sc.cs[(a0 + k) * L + size_t(l)] = cv;
            }
        }
    } else if (a1 > a0) {
        lane_sincos(args + a0 * L, (a1 - a0) * L, sc.sn.data() + a0 * L, sc.cs.data() + a0 * L);
    }
    for (int op_ : list) {
        const size_t op = size_t(op_);
        const LaneBind& b = binds[op];
        const OpKernel& k = prog.kernels()[op];
        const size_t f = size_t(k.mat_offset), v = mt + f, d = 2 * mt + size_t(k.dmat_offset);
        const double* S = sc.sn.data() + size_t(b.arg0) * L;
        const double* C = sc.cs.data() + size_t(b.arg0) * L;
        const bool der = with_derivs;
        switch (b.kind) {
            case LaneBind::None:
            case LaneBind::Fixed: break;
            case LaneBind::RotX:
            case LaneBind::RotY:
            case LaneBind::RotZ:
            case LaneBind::Phase:
            case LaneBind::Rot: lane_rotation<F>(b, k.trainable_mask, C, S, der, w, f, v, d); break;
            case LaneBind::Generic: {
                const Op& o = c.ops()[op];
                const auto& spec = gates::gate_spec(o.gate);
                const int dim = 1 << k.nt;
                cplx* m = sc.m.data();
                cplx* dm = sc.dm.data();
                for (int l = 0; l < L; ++l) {
                    const double* a = angles + size_t(l) * na + c.angle_offset(op);
                    spec.matrix(a, dim, m);
                    for (int e = 0; e < k.mat_size; ++e) w.put(f + size_t(e), l, m[e].real(), m[e].imag());
                    if (k.kind == OpKernel::Diagonal) {
                        for (int e = 0; e < k.mat_size; ++e) w.put(v + size_t(e), l, m[e].real(), -m[e].imag());
                    } else {
                        for (int r = 0; r < dim; ++r)
                            for (int cl = 0; cl < dim; ++cl)
                                w.put(v + size_t(r * dim + cl), l, m[cl * dim + r].real(), -m[cl * dim + r].imag());
                    }
                    if (!der) continue;
                    gates::fill_dmatrices(o.gate, a, dim, k.trainable_mask, dm);
                    for (size_t p = 0; p < o.params.size(); ++p) {
                        if (!(k.trainable_mask & (1u << p))) continue;
                        for (int e = 0; e < k.mat_size; ++e) {
                            const cplx x = dm[p * size_t(k.mat_size) + size_t(e)];
                            w.put(d + p * size_t(k.mat_size) + size_t(e), l, x.real(), x.imag());
                        }
                    }
                }
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The product-state prefix (LanePlan::prefix_end): per lane, every prefix op's output vector on its wire,
// a_op = g_op a_prev (a_prev = |0> at the wire's first op: then a_op is g_op's first column, no flops), in
// double at A[(op * 4 + {re0, im0, re1, im1}) * L + lane]; the state is the Kronecker product of the
// wires' last vectors.
// ---------------------------------------------------------------------------------------------------
// (Plain per-lane loops over double arrays throughout: the compiler keeps them in vector registers, where
// 8-double vector values carried across loops were spilled through the stack.)
// out = g in per lane (in, out: 4 lane rows {re0, im0, re1, im1} in double; g a prefix op's 2x2 or diagonal
// matrix in lane layout); in == out is allowed.
template <int H, class F>
PYQML_LANE_INLINE void wire_apply(const F* __restrict mr, const F* __restrict mi, bool diag,
                                                      const double* in, double* out) {
    for (int q = 0; q < L; q += H) {
        const WD<H> p0r = loadw<H>(in + q), p0i = loadw<H>(in + L + q), p1r = loadw<H>(in + 2 * L + q), p1i = loadw<H>(in + 3 * L + q);
        if (diag) {
            const WD<H> d0r = loadw<H>(mr + q), d0i = loadw<H>(mi + q), d1r = loadw<H>(mr + L + q), d1i = loadw<H>(mi + L + q);
            putw<H>(out + q, d0r * p0r - d0i * p0i);
            putw<H>(out + L + q, d0r * p0i + d0i * p0r);
            putw<H>(out + 2 * L + q, d1r * p1r - d1i * p1i);
            putw<H>(out + 3 * L + q, d1r * p1i + d1i * p1r);
        } else {
            const WD<H> m0r = loadw<H>(mr + q), m0i = loadw<H>(mi + q), m1r = loadw<H>(mr + L + q), m1i = loadw<H>(mi + L + q);
            const WD<H> m2r = loadw<H>(mr + 2 * L + q), m2i = loadw<H>(mi + 2 * L + q), m3r = loadw<H>(mr + 3 * L + q),
                      m3i = loadw<H>(mi + 3 * L + q);
            putw<H>(out + q, m0r * p0r - m0i * p0i + (m1r * p1r - m1i * p1i));
            putw<H>(out + L + q, m0r * p0i + m0i * p0r + (m1r * p1i + m1i * p1r));
            putw<H>(out + 2 * L + q, m2r * p0r - m2i * p0i + (m3r * p1r - m3i * p1i));
            putw<H>(out + 3 * L + q, m2r * p0i + m2i * p0r + (m3r * p1i + m3i * p1r));
        }
    }
}

template <int H, class F>
PYQML_LANE_INLINE void prefix_vectors_h(const LanePlan& plan, const Program& prog, const F* lre, const F* lim,
                                      double* A) {
    for (size_t op = 0; op < plan.prefix_end(); ++op) {
        const OpKernel& k = prog.kernels()[op];
        const F* mr = lre + size_t(k.mat_offset) * L;
        const F* mi = lim + size_t(k.mat_offset) * L;
        const int prev = plan.prefix_prev()[op];
        double* O = A + op * 4 * L;
        const bool diag = k.kind == OpKernel::Diagonal;
        if (prev >= 0) {
            wire_apply<H, F>(mr, mi, diag, A + size_t(prev) * 4 * L, O);
            continue;
        }
        // Against |0>: the first column.
        for (int q = 0; q < L; q += H) {
            putw<H>(O + q, loadw<H>(mr + q));
            putw<H>(O + L + q, loadw<H>(mi + q));
            if (diag) {
                putw<H>(O + 2 * L + q, WD<H>{});
                putw<H>(O + 3 * L + q, WD<H>{});
            } else {
                putw<H>(O + 2 * L + q, loadw<H>(mr + 2 * L + q));
                putw<H>(O + 3 * L + q, loadw<H>(mi + 2 * L + q));
            }
        }
    }
}
struct PrefixVectors {
    template <int H, class F>
    PYQML_LANE_INLINE static void run(const LanePlan& plan, const Program& prog, const F* lre, const F* lim, double* A) {
        prefix_vectors_h<H, F>(plan, prog, lre, lim, A);
    }
};
template <class F>
inline void prefix_vectors(const LanePlan& plan, const Program& prog, const F* lre, const F* lim, double* A) {
    vector_run<PrefixVectors>(plan, prog, lre, lim, A);
}

// The 2-vector of a bit's wire after the prefix, 4 lane rows {re0, im0, re1, im1} (|0> for a wire without
// prefix ops).
alignas(64) constexpr double kKet0[4 * L] = {1, 1, 1, 1, 1, 1, 1, 1};
static_assert(L == 8, "kKet0 spells out 8 lanes");
inline const double* wire_vector(const LanePlan& plan, const double* A, int bit) {
    const int last = plan.prefix_last()[size_t(bit)];
    return last < 0 ? kKet0 : A + size_t(last) * 4 * L;
}

// psi = the Kronecker product of the wires' vectors, built bit by bit from the highest (2^(n+1) - 2
// complex products); tmp: 4 * 2^n * L doubles.
template <int H, class F>
PYQML_LANE_INLINE void prefix_state_h(const LanePlan& plan, int n, const double* A, double* tmp, LaneState<F> psi) {
    const size_t size = size_t(1) << n;
    double* tr = tmp;
    double* ti = tmp + size * L;
    double* ur = tmp + 2 * size * L;
    double* ui = tmp + 3 * size * L;
    for (int l = 0; l < L; ++l) {
        tr[l] = 1.0;
        ti[l] = 0.0;
    }
    size_t m = 1;
    for (int p = n - 1; p >= 0; --p) {
        const double* __restrict v = wire_vector(plan, A, p);
        for (int q = 0; q < L; q += H) {
            const WD<H> v0r = loadw<H>(v + q), v0i = loadw<H>(v + L + q), v1r = loadw<H>(v + 2 * L + q), v1i = loadw<H>(v + 3 * L + q);
            for (size_t i = 0; i < m; ++i) {
                const WD<H> xr = loadw<H>(tr + i * L + q), xi = loadw<H>(ti + i * L + q);
                const WD<H> a0r = xr * v0r - xi * v0i, a0i = xr * v0i + xi * v0r;
                const WD<H> a1r = xr * v1r - xi * v1i, a1i = xr * v1i + xi * v1r;
                if (p > 0) {
                    putw<H>(ur + 2 * i * L + q, a0r);
                    putw<H>(ui + 2 * i * L + q, a0i);
                    putw<H>(ur + (2 * i + 1) * L + q, a1r);
                    putw<H>(ui + (2 * i + 1) * L + q, a1i);
                } else {  // the last wire: straight into the state
                    putw<H>(psi.re + 2 * i * L + q, a0r);
                    putw<H>(psi.im + 2 * i * L + q, a0i);
                    putw<H>(psi.re + (2 * i + 1) * L + q, a1r);
                    putw<H>(psi.im + (2 * i + 1) * L + q, a1i);
                }
            }
        }
        std::swap(tr, ur);
        std::swap(ti, ui);
        m *= 2;
    }
}
struct PrefixState {
    template <int H, class F>
    PYQML_LANE_INLINE static void run(const LanePlan& plan, int n, const double* A, double* tmp, LaneState<F> psi) {
        prefix_state_h<H, F>(plan, n, A, tmp, psi);
    }
};
template <class F>
inline void prefix_state(const LanePlan& plan, int n, const double* A, double* tmp, LaneState<F> psi) {
    vector_run<PrefixState>(plan, n, A, tmp, psi);
}

// The contractions of the lambdas with the prefix's wire vectors run on all nl lambdas of a block at once:
// an entry is W = nl * kLanes doubles (lambda-major, lanes innermost), and a wire vector's lane l applies
// to lane l of every lambda.
//
// One halving of a contraction buffer (m entries, re then im): the top bit (dst[i] = src[i] v0 +
// src[i + m/2] v1) or the bottom bit (dst[i] = src[2i] v0 + src[2i+1] v1).
template <int H, bool TOP>
PYQML_LANE_INLINE void contract_bit_h(const double* src, size_t m, int nl, const double* v, double* dst) {
    const size_t h = m / 2;
    const size_t W = size_t(nl) * L;
    const double* __restrict sr = src;
    const double* __restrict si = src + m * W;
    double* __restrict dr = dst;
    double* __restrict di = dst + h * W;
    // The wire vector's lane chunks held in registers; per entry one pass over its W doubles.
    constexpr int NQ = L / H;
    WD<H> v0r[NQ], v0i[NQ], v1r[NQ], v1i[NQ];
    for (int c = 0; c < NQ; ++c) {
        v0r[c] = loadw<H>(v + c * H);
        v0i[c] = loadw<H>(v + L + c * H);
        v1r[c] = loadw<H>(v + 2 * L + c * H);
        v1i[c] = loadw<H>(v + 3 * L + c * H);
    }
    for (size_t i = 0; i < h; ++i) {
        const double* __restrict a_r = sr + (TOP ? i : 2 * i) * W;
        const double* __restrict a_i = si + (TOP ? i : 2 * i) * W;
        const double* __restrict b_r = sr + (TOP ? i + h : 2 * i + 1) * W;
        const double* __restrict b_i = si + (TOP ? i + h : 2 * i + 1) * W;
        double* __restrict o_r = dr + i * W;
        double* __restrict o_i = di + i * W;
        for (size_t o = 0; o < W; o += L)
            for (int c = 0; c < NQ; ++c) {
                const size_t j = o + size_t(c) * H;
                const WD<H> ar = loadw<H>(a_r + j), ai = loadw<H>(a_i + j), br = loadw<H>(b_r + j), bi = loadw<H>(b_i + j);
                putw<H>(o_r + j, ar * v0r[c] - ai * v0i[c] + (br * v1r[c] - bi * v1i[c]));
                putw<H>(o_i + j, ar * v0i[c] + ai * v0r[c] + (br * v1i[c] + bi * v1r[c]));
            }
    }
}
template <bool TOP>
struct ContractBit {
    template <int H>
    PYQML_LANE_INLINE static void run(const double* src, size_t m, int nl, const double* v, double* dst) {
        contract_bit_h<H, TOP>(src, m, nl, v, dst);
    }
};
template <bool TOP>
inline void contract_bit(const double* src, size_t m, int nl, const double* v, double* dst) {
    vector_run<ContractBit<TOP>>(src, m, nl, v, dst);
}

// C[(bit * 4 + {re0, im0, re1, im1}) * W + lambda * L + lane] = sum over the other bits of conj(lam[x])
// prod_b' v_b'[x_b'] for every bit in [lo, hi), from T (the conjugated lambdas with every bit outside
// [lo, hi) contracted: 2^(hi - lo) entries): halve the range, contract one half's bits out for the other
// half, recurse. scratch: 2 * 2^(hi - lo + 1) * W doubles (a chain of halvings, then the recursion's own).
void prefix_contract(const LanePlan& plan, const double* A, const double* T, int nl, int lo, int hi, double* scratch,
                     double* C) {
    const size_t W = size_t(nl) * L;
    if (hi - lo == 1) {
        double* c = C + size_t(lo) * 4 * W;
        std::copy(T, T + W, c);                  // re0
        std::copy(T + 2 * W, T + 3 * W, c + W);  // im0
        std::copy(T + W, T + 2 * W, c + 2 * W);  // re1
        std::copy(T + 3 * W, T + 4 * W, c + 3 * W);
        return;
    }
    const int mid = (lo + hi) / 2;
    for (int side = 0; side < 2; ++side) {
        // side 0: keep [lo, mid), contract the top bits hi-1 .. mid; side 1: keep [mid, hi), contract lo .. mid-1.
        const double* src = T;
        size_t m = size_t(1) << (hi - lo);
        double* dst = scratch;
        const int count = side == 0 ? hi - mid : mid - lo;
        for (int s = 0; s < count; ++s) {
            const int bit = side == 0 ? hi - 1 - s : lo + s;
            const double* v = wire_vector(plan, A, bit);
            if (side == 0) contract_bit<true>(src, m, nl, v, dst);
            else contract_bit<false>(src, m, nl, v, dst);
            src = dst;
            dst += m * W;  // m/2 entries, re and im
            m /= 2;
        }
        if (side == 0) prefix_contract(plan, A, src, nl, lo, mid, dst, C);
        else prefix_contract(plan, A, src, nl, mid, hi, dst, C);
    }
}

// contract_bit on the conjugated lambdas (conjugated_lambdas' T) read from the lambdas themselves.
template <int H, bool TOP, class F>
PYQML_LANE_INLINE void contract_bit_lams_h(const LaneState<F>* lams, int nl, size_t m, const double* v, double* dst) {
    const size_t h = m / 2;
    const size_t W = size_t(nl) * L;
    double* __restrict dr = dst;
    double* __restrict di = dst + h * W;
    constexpr int NQ = L / H;
    WD<H> v0r[NQ], v0i[NQ], v1r[NQ], v1i[NQ];
    for (int c = 0; c < NQ; ++c) {
        v0r[c] = loadw<H>(v + c * H);
        v0i[c] = loadw<H>(v + L + c * H);
        v1r[c] = loadw<H>(v + 2 * L + c * H);
        v1i[c] = loadw<H>(v + 3 * L + c * H);
    }
    for (int k = 0; k < nl; ++k) {
        const F* __restrict lr = lams[k].re;
        const F* __restrict li = lams[k].im;
        for (size_t i = 0; i < h; ++i) {
            const size_t i0 = (TOP ? i : 2 * i) * L, i1 = (TOP ? i + h : 2 * i + 1) * L;
            double* __restrict o_r = dr + i * W + size_t(k) * L;
            double* __restrict o_i = di + i * W + size_t(k) * L;
            for (int c = 0; c < NQ; ++c) {
                const int q = c * H;
                const WD<H> ar = loadw<H>(lr + i0 + q), ai = -loadw<H>(li + i0 + q), br = loadw<H>(lr + i1 + q),
                            bi = -loadw<H>(li + i1 + q);
                putw<H>(o_r + q, ar * v0r[c] - ai * v0i[c] + (br * v1r[c] - bi * v1i[c]));
                putw<H>(o_i + q, ar * v0i[c] + ai * v0r[c] + (br * v1i[c] + bi * v1r[c]));
            }
        }
    }
}
template <bool TOP>
struct ContractBitLams {
    template <int H, class F>
    PYQML_LANE_INLINE static void run(const LaneState<F>* lams, int nl, size_t m, const double* v, double* dst) {
        contract_bit_lams_h<H, TOP, F>(lams, nl, m, v, dst);
    }
};
template <bool TOP, class F>
inline void contract_bit_lams(const LaneState<F>* lams, int nl, size_t m, const double* v, double* dst) {
    vector_run<ContractBitLams<TOP>>(lams, nl, m, v, dst);
}

// prefix_contract on all n bits from the lambdas (n >= 2): each side's first halving reads the lambdas
// instead of their conjugated copy. scratch: 2 * 2^(n + 1) * W doubles.
template <class F>
void prefix_contract_lams(const LanePlan& plan, const double* A, const LaneState<F>* lams, int nl, int n,
                          double* scratch, double* C) {
    const size_t W = size_t(nl) * L;
    const int lo = 0, hi = n, mid = n / 2;
    for (int side = 0; side < 2; ++side) {
        size_t m = size_t(1) << n;
        double* dst = scratch;
        const int count = side == 0 ? hi - mid : mid - lo;
        if (side == 0) contract_bit_lams<true, F>(lams, nl, m, wire_vector(plan, A, hi - 1), dst);
        else contract_bit_lams<false, F>(lams, nl, m, wire_vector(plan, A, lo), dst);
        const double* src = dst;
        dst += m * W;
        m /= 2;
        for (int s = 1; s < count; ++s) {
            const int bit = side == 0 ? hi - 1 - s : lo + s;
            const double* v = wire_vector(plan, A, bit);
            if (side == 0) contract_bit<true>(src, m, nl, v, dst);
            else contract_bit<false>(src, m, nl, v, dst);
            src = dst;
            dst += m * W;
            m /= 2;
        }
        if (side == 0) prefix_contract(plan, A, src, nl, lo, mid, dst, C);
        else prefix_contract(plan, A, src, nl, mid, hi, dst, C);
    }
}

// Per-thread buffers of the lane path, kept between calls (grow only): no allocation in a warm call.
template <class F>
struct LaneWork {
    avec<double> angles;
    avec<F> lmats, states;
    BindScratch bind;
    avec<double> g, gbuf, grow, scale, vals;
    std::vector<LaneState<F>> lams;
    avec<double> prefix, kron, contr, wires, tangents, chain;
};
template <class F>
LaneWork<F>& lane_work() {
    thread_local LaneWork<F> w;
    return w;
}

// g[p * L + lane] += 2 Re sum_e dU_p[e] G[e] per lane for every parameter p in mask (dU_p at dr/di + p * msize
// entries, lane layout).
template <int H, class F>
PYQML_LANE_INLINE void param_derivs(const F* dr, const F* di, int msize, unsigned mask, int np, int entries,
                                    const double* gr, const double* gi, double* g) {
    for (int p = 0; p < np; ++p) {
        if (!(mask & (1u << p))) continue;
        const F* r = dr + size_t(p) * msize * L;
        const F* i = di + size_t(p) * msize * L;
        for (int h = 0; h < L; h += H) {
            WD<H> acc{};
            for (int e = 0; e < entries; ++e)
                acc += loadw<H>(r + e * L + h) * loadw<H>(gr + e * L + h) - loadw<H>(i + e * L + h) * loadw<H>(gi + e * L + h);
            putw<H>(g + p * L + h, loadw<H>(g + p * L + h) + 2.0 * acc);
        }
    }
}
struct ParamDerivs {
    template <int H, class F>
    PYQML_LANE_INLINE static void run(const F* dr, const F* di, int msize, unsigned mask, int np, int entries,
                                      const double* gr, const double* gi, double* g) {
        param_derivs<H, F>(dr, di, msize, mask, np, entries, gr, gi, g);
    }
};
template <class F>
inline void lane_param_derivs(const F* dr, const F* di, int msize, unsigned mask, int np, int entries,
                              const double* gr, const double* gi, double* g) {
    vector_run<ParamDerivs>(dr, di, msize, mask, np, entries, gr, gi, g);
}

// One 2x2 op of the adjoint sweep for all nl lambdas in one call: per lambda block2_pass (with update_phi
// the first also un-applies the op from phi; a kept forward state is phi already) and the op's parameter
// derivatives from its overlap, into g + lambda * gstride (G: 8 * L doubles of scratch). At H = 4 the
// passes that leave phi alone run split (block2_pass_split, derivatives from its registers): an A/B in one
// process on the 2-core AVX2 machine, the seed QNN's Jacobian, 150 rows, fastest repeats: 88-89 against
// 91-92 us on one thread, 53-60 against 55-61 us on two.
struct Block2Adjoint {
    template <int H, class F>
    PYQML_LANE_INLINE static void run(LaneState<F> phi, bool update_phi, const LaneState<F>* lams, int nl,
                                      const LaneOp& op, LaneMat<F> m, bool update_lam, const F* dr, const F* di,
                                      int msize, unsigned mask, int np, double* G, double* g, size_t gstride) {
        for (int lam = 0; lam < nl; ++lam) {
            // (Specialised on the updates: no branch in the group loop.)
            const bool first = lam == 0 && update_phi;
            if (first && update_lam) block2_pass<H, F, true, true>(lams[lam], phi, op, m, G, G + 4 * L);
            else if (first) block2_pass<H, F, true, false>(lams[lam], phi, op, m, G, G + 4 * L);
            else if (H == 4) {
                double* gl = g + size_t(lam) * gstride;
                if (update_lam) block2_pass_split<H, F, true>(lams[lam], phi, op, m, dr, di, msize, mask, np, gl);
                else block2_pass_split<H, F, false>(lams[lam], phi, op, m, dr, di, msize, mask, np, gl);
                continue;
            } else if (update_lam) block2_pass<H, F, false, true>(lams[lam], phi, op, m, G, G + 4 * L);
            else block2_pass<H, F, false, false>(lams[lam], phi, op, m, G, G + 4 * L);
            param_derivs<H, F>(dr, di, msize, mask, np, 4, G, G + 4 * L, g + size_t(lam) * gstride);
        }
    }
};
template <class F>
inline void block2_adjoint(LaneState<F> phi, bool update_phi, const LaneState<F>* lams, int nl, const LaneOp& op,
                           LaneMat<F> m, bool update_lam, const F* dr, const F* di, int msize, unsigned mask, int np,
                           double* G, double* g, size_t gstride) {
    vector_run<Block2Adjoint>(phi, update_phi, lams, nl, op, m, update_lam, dr, di, msize, mask, np, G, g, gstride);
}

// The forward tangents of the prefix parameters (LanePlan::prefix_params, slot s at Tg + s * 4 * L): dg/dp
// applied to the op's input vector (the first column of dg/dp against |0>, no flops), then every later prefix
// op on the wire. Input parameters' slots are skipped unless inputs is set.
template <int H, class F>
PYQML_LANE_INLINE void prefix_tangents_h(const LanePlan& plan, const Program& prog, const F* lre, const F* lim,
                                       const double* A, bool inputs, double* Tg) {
    const size_t mt = prog.mat_total();
    const auto& params = plan.prefix_params();
    for (size_t s = 0; s < params.size(); ++s) {
        const LanePlan::PrefixParam& pp = params[s];
        if (pp.input && !inputs) continue;
        const OpKernel& k = prog.kernels()[size_t(pp.op)];
        const bool diag = k.kind == OpKernel::Diagonal;
        const size_t d0 = (2 * mt + size_t(k.dmat_offset) + size_t(pp.param) * size_t(k.mat_size)) * L;
        double* __restrict t = Tg + s * 4 * L;
        const int prev = plan.prefix_prev()[size_t(pp.op)];
        if (prev < 0) {
            const F* dr = lre + d0;
            const F* di = lim + d0;
            for (int l = 0; l < L; ++l) {
                t[l] = dr[l];
                t[L + l] = di[l];
            }
            if (diag) {
                std::fill(t + 2 * L, t + 4 * L, 0.0);
            } else {
                for (int l = 0; l < L; ++l) {
                    t[2 * L + l] = dr[2 * L + l];
                    t[3 * L + l] = di[2 * L + l];
                }
            }
        } else {
            wire_apply<H, F>(lre + d0, lim + d0, diag, A + size_t(prev) * 4 * L, t);
        }
        for (int op = plan.prefix_next()[size_t(pp.op)]; op >= 0; op = plan.prefix_next()[size_t(op)]) {
            const OpKernel& kk = prog.kernels()[size_t(op)];
            wire_apply<H, F>(lre + size_t(kk.mat_offset) * L, lim + size_t(kk.mat_offset) * L,
                          kk.kind == OpKernel::Diagonal, t, t);
        }
    }
}
struct PrefixTangents {
    template <int H, class F>
    PYQML_LANE_INLINE static void run(const LanePlan& plan, const Program& prog, const F* lre, const F* lim, const double* A, bool inputs, double* Tg) {
        prefix_tangents_h<H, F>(plan, prog, lre, lim, A, inputs, Tg);
    }
};
template <class F>
inline void prefix_tangents(const LanePlan& plan, const Program& prog, const F* lre, const F* lim, const double* A, bool inputs, double* Tg) {
    vector_run<PrefixTangents>(plan, prog, lre, lim, A, inputs, Tg);
}

// The prefix parameters' derivatives for every lambda: g[(lambda * na + angle) * L + lane] += 2 Re (c . t),
// c the lambda's contraction on the parameter's wire (C, prefix_contract's layout), t its tangent.
template <int H>
PYQML_LANE_INLINE void prefix_param_derivs_h(const LanePlan& plan, const double* Tg, const double* C, int nl, int na,
                                           bool inputs, double* g) {
    const size_t W = size_t(nl) * L;
    const auto& params = plan.prefix_params();
    for (size_t s = 0; s < params.size(); ++s) {
        const LanePlan::PrefixParam& pp = params[s];
        if (pp.input && !inputs) continue;
        const double* t = Tg + s * 4 * L;
        const double* c = C + size_t(pp.bit) * 4 * W;
        for (int q = 0; q < L; q += H) {
            const WD<H> t0r = loadw<H>(t + q), t0i = loadw<H>(t + L + q), t1r = loadw<H>(t + 2 * L + q), t1i = loadw<H>(t + 3 * L + q);
            for (int lam = 0; lam < nl; ++lam) {
                const size_t o = size_t(lam) * L + size_t(q);
                double* gl = g + (size_t(lam) * na + size_t(pp.angle)) * L + size_t(q);
                putw<H>(gl, loadw<H>(gl) + 2.0 * (loadw<H>(c + o) * t0r - loadw<H>(c + W + o) * t0i +
                                            (loadw<H>(c + 2 * W + o) * t1r - loadw<H>(c + 3 * W + o) * t1i)));
            }
        }
    }
}
struct PrefixParamDerivs {
    template <int H>
    PYQML_LANE_INLINE static void run(const LanePlan& plan, const double* Tg, const double* C, int nl, int na, bool inputs, double* g) {
        prefix_param_derivs_h<H>(plan, Tg, C, nl, na, inputs, g);
    }
};
inline void prefix_param_derivs(const LanePlan& plan, const double* Tg, const double* C, int nl, int na, bool inputs, double* g) {
    vector_run<PrefixParamDerivs>(plan, Tg, C, nl, na, inputs, g);
}

// The Jacobian's chain rule for a block, in lane layout: G[(lambda * n_out + index) * L + lane] = sum over
// the references a to that index (in angle order) of scale_a * g[(lambda * na + angle_a) * L + lane].
using ChainRef = LanePlan::ChainRef;
PYQML_LANE_CLONES void lane_chain(const double* g, int nl, int na, const ChainRef* refs, int n_refs, int n_out,
                                  double* G) {
    std::fill(G, G + size_t(nl) * size_t(n_out) * L, 0.0);
    for (size_t lam = 0; lam < size_t(nl); ++lam)
        for (int a = 0; a < n_refs; ++a) {
            double* o = G + (lam * size_t(n_out) + size_t(refs[a].index)) * L;
            const double* x = g + (lam * size_t(na) + size_t(refs[a].angle)) * L;
            const double sc = refs[a].scale;
            putw<4>(o, loadw<4>(o) + sc * loadw<4>(x));
            putw<4>(o + 4, loadw<4>(o + 4) + sc * loadw<4>(x + 4));
        }
}

// rows[l * stride + e] = G[e * L + l] for the block's valid lanes: G's lane layout transposed into the
// Jacobian's rows, four entries of four lanes at a time (4 x 4 transposes in registers) for a full block.
typedef long long v4i __attribute__((vector_size(32)));
PYQML_LANE_CLONES void lane_rows(const double* G, size_t stride, int valid, double* rows) {
    size_t e = 0;
    if (valid == L)
        for (; e + 4 <= stride; e += 4)
            for (int q = 0; q < L; q += 4) {
                const v4d a = loadw<4>(G + e * L + q), b = loadw<4>(G + (e + 1) * L + q), c = loadw<4>(G + (e + 2) * L + q),
                          d = loadw<4>(G + (e + 3) * L + q);
                const v4d t0 = __builtin_shuffle(a, b, v4i{0, 4, 2, 6}), t1 = __builtin_shuffle(a, b, v4i{1, 5, 3, 7});
                const v4d t2 = __builtin_shuffle(c, d, v4i{0, 4, 2, 6}), t3 = __builtin_shuffle(c, d, v4i{1, 5, 3, 7});
                putw<4>(rows + size_t(q) * stride + e, __builtin_shuffle(t0, t2, v4i{0, 1, 4, 5}));
                putw<4>(rows + size_t(q + 1) * stride + e, __builtin_shuffle(t1, t3, v4i{0, 1, 4, 5}));
                putw<4>(rows + size_t(q + 2) * stride + e, __builtin_shuffle(t0, t2, v4i{2, 3, 6, 7}));
                putw<4>(rows + size_t(q + 3) * stride + e, __builtin_shuffle(t1, t3, v4i{2, 3, 6, 7}));
            }
    for (; e < stride; ++e)
        for (int l = 0; l < valid; ++l) rows[size_t(l) * stride + e] = G[e * L + size_t(l)];
}

// The chain rule and lane_rows in one pass when every index has exactly one reference (onto[index]: its
// angle and scale): rows[l * stride + lambda * m + index] = scale * g[(lambda * na + angle) * L + l], four
// entries of four lanes at a time as lane_rows (stride = nl * m).
PYQML_LANE_CLONES void lane_rows_onto(const double* g, int nl, int na, const ChainRef* onto, int m, int valid,
                                      double* rows) {
    const size_t stride = size_t(nl) * size_t(m);
    // Entry e = lambda * m + index, walked in order (no divisions).
    size_t lam = 0, idx = 0;
    auto next = [&](double& sc) {
        const double* p = g + (lam * size_t(na) + size_t(onto[idx].angle)) * L;
        sc = onto[idx].scale;
        if (++idx == size_t(m)) {
            idx = 0;
            ++lam;
        }
        return p;
    };
    size_t e = 0;
    if (valid == L)
        for (; e + 4 <= stride; e += 4) {
            double sa, sb, sc, sd;
            const double* pa = next(sa);
            const double* pb = next(sb);
            const double* pc = next(sc);
            const double* pd = next(sd);
            for (int q = 0; q < L; q += 4) {
                const v4d a = sa * loadw<4>(pa + q), b = sb * loadw<4>(pb + q), c = sc * loadw<4>(pc + q), d = sd * loadw<4>(pd + q);
                const v4d t0 = __builtin_shuffle(a, b, v4i{0, 4, 2, 6}), t1 = __builtin_shuffle(a, b, v4i{1, 5, 3, 7});
                const v4d t2 = __builtin_shuffle(c, d, v4i{0, 4, 2, 6}), t3 = __builtin_shuffle(c, d, v4i{1, 5, 3, 7});
                putw<4>(rows + size_t(q) * stride + e, __builtin_shuffle(t0, t2, v4i{0, 1, 4, 5}));
                putw<4>(rows + size_t(q + 1) * stride + e, __builtin_shuffle(t1, t3, v4i{0, 1, 4, 5}));
                putw<4>(rows + size_t(q + 2) * stride + e, __builtin_shuffle(t0, t2, v4i{2, 3, 6, 7}));
                putw<4>(rows + size_t(q + 3) * stride + e, __builtin_shuffle(t1, t3, v4i{2, 3, 6, 7}));
            }
        }
    for (; e < stride; ++e) {
        double sc;
        const double* p = next(sc);
        for (int l = 0; l < valid; ++l) rows[size_t(l) * stride + e] = sc * p[l];
    }
}

// T: the conjugated lambdas side by side (entry i of lambda k at lane vector i * nl + k, re then im), in
// double.
template <class F>
PYQML_LANE_CLONES void conjugated_lambdas(const LaneState<F>* lams, int nl, uint32_t size, double* T) {
    const size_t w = size_t(nl);
    for (size_t k = 0; k < w; ++k)
        for (uint32_t i = 0; i < size; ++i)
            for (int q = 0; q < L; q += 4) {
                putw<4>(T + (i * w + k) * L + q, loadw<4>(lams[k].re + size_t(i) * L + q));
                putw<4>(T + ((size + i) * w + k) * L + q, -loadw<4>(lams[k].im + size_t(i) * L + q));
            }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// The batch loop over lane blocks: binds every lane's angles and matrices (Program::bind_matrices, then
// transposed into lane layout), runs the body on the block's states, carries errors out of the parallel
// region as for_rows does.
// ---------------------------------------------------------------------------------------------------

// Waking a sleeping OpenMP worker (OMP_WAIT_POLICY=PASSIVE) took about as long as one thread's lane
// arithmetic of a few Mflop on the 2-core machine, quiet: the seed QNN's 150 rows from Python, values (0.2
// Mflop) 89 us on two threads against 40 us on one, values + Jacobian (1.9 Mflop) 143 against 130 us. A
// call takes one more thread per kLaneWakeFlops of its arithmetic (the row paths' flop model).
constexpr double kLaneWakeFlops = 2.5e6;

bool detect_wide_vectors() {
#ifdef PYQML_WIDE_BUILD
    __builtin_cpu_init();
    const char* bits = std::getenv("PYQML_LANE_VECTOR_BITS");
    if (bits && std::strcmp(bits, "256") == 0) return false;
    return __builtin_cpu_supports("x86-64-v4") != 0;
#elif defined(__AVX512F__)
    return true;
#else
    return false;
#endif
}

int lane_vector_bits() { return kWideVectors ? 512 : 256; }

int Simulator::lane_workers(int64_t rows, bool derivs) const {
    const int64_t blocks = (rows + L - 1) / L;
    int64_t workers = std::max<int64_t>(1, std::min<int64_t>(max_threads(), blocks));
    if (idle_workers_sleep()) {
        const double work = double(rows) * double(derivs ? row_flops_.vjp : row_flops_.values);
        workers = std::min<int64_t>(workers, 1 + static_cast<int64_t>(work / kLaneWakeFlops));
    }
    return static_cast<int>(workers);
}

template <class F, class Body>
void Simulator::for_lane_blocks(const Batch& b, int states_per_block, bool with_derivs, Body&& body) const {
    const Circuit& c = program_.circuit();
    const int n = c.n_wires();
    const int64_t rows = b.rows;
    PYQML_REQUIRE(rows >= 0, "negative batch size");
    const int64_t blocks = (rows + L - 1) / L;
    const int workers = lane_workers(rows, with_derivs);
    const size_t size = size_t(1) << n;
    const size_t nm = program_.matrix_buffer_size();
    const double per_worker = double(states_per_block) * double(size) * L * 2 * sizeof(F) +
                              double(nm) * (L * 2 * sizeof(F) + L * sizeof(cplx));
    check_memory(double(workers) * per_worker, std::to_string(states_per_block) + " lane block(s) of " +
                                                   std::to_string(L) + " state vectors of " + std::to_string(n) +
                                                   " wires" + (workers > 1 ? " per thread" : ""));
    // Weights shared by all rows: the ops whose parameters are weights and constants are bound once per
    // call (per thread), only the others per block.
    const bool shared = lanes_->any_row_shared() && !b.angles && !b.weights_per_row && rows > 0;
    // With shared weights a block binds only the row ops' angles (the others' matrices are bound once per
    // call and per thread): the parameter reference of every angle, in angle order.
    const std::vector<int>& row_angles = lanes_->row_angles();
    const std::vector<ParamRef>& row_refs = lanes_->row_angle_refs();
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
        LaneWork<F>& ws = lane_work<F>();
        double* angles = nullptr;
        F* lre = nullptr;
        F* lim = nullptr;
        F* states = nullptr;
        try {
            angles = sized(ws.angles, size_t(L) * std::max(1, c.n_angles()));
            lre = sized(ws.lmats, nm * L * 2);
            lim = lre + nm * L;
            states = sized(ws.states, size_t(states_per_block) * size * L * 2);
            int max_mat = 1, max_par = 0;
            for (const OpKernel& k : program_.kernels()) max_mat = std::max(max_mat, k.mat_size);
            for (const Op& op : c.ops()) max_par = std::max(max_par, int(op.params.size()));
            sized(ws.bind.args, size_t(L) * std::max(1, lanes_->n_args()));
            sized(ws.bind.sn, size_t(L) * std::max(1, lanes_->n_args()));
            sized(ws.bind.cs, size_t(L) * std::max(1, lanes_->n_args()));
            sized(ws.bind.m, size_t(max_mat));
            sized(ws.bind.dm, size_t(max_mat) * std::max(1, max_par));
            lane_fixed<F>(program_, *lanes_, {lre, lim});
            if (shared) {
                // Row-shared ops: the same matrices in every lane, bound from the first row's angles.
                c.bind(b.weights, b.inputs, angles);
                for (int l = 1; l < L; ++l) std::copy(angles, angles + c.n_angles(), angles + size_t(l) * c.n_angles());
                lane_bind<F>(program_, *lanes_, angles, with_derivs, ws.bind, {lre, lim}, BindOps::Shared);
            }
        } catch (const std::bad_alloc&) {
            record("allocating lane blocks of " + std::to_string(n) + " wires failed (the system refused the memory)",
                   true);
        }
        // Guided: large first chunks, single blocks at the end. Handing out single blocks throughout
        // (dynamic, 1) cost the seed QNN's 150-row Jacobian on two threads 37-41 us against 33-36 us
        // (608 rows: 137-160 against 117-128), where a block takes about 3 us. nowait: the region's end is
        // the one barrier (the loop's own came right before it).
#pragma omp for schedule(guided) nowait
        for (int64_t blk = 0; blk < blocks; ++blk) {
            if (failed) continue;
            const int64_t r0 = blk * L;
            const int valid = static_cast<int>(std::min<int64_t>(L, rows - r0));
            try {
                for (int l = 0; l < L; ++l) {
                    const int64_t r = r0 + std::min(l, valid - 1);
                    double* a = angles + size_t(l) * c.n_angles();
                    if (b.angles) {
                        std::copy(b.angles + r * c.n_angles(), b.angles + (r + 1) * c.n_angles(), a);
                        for (int i = 0; i < c.n_angles(); ++i)
                            PYQML_REQUIRE(std::isfinite(a[i]), "angle is NaN or infinite in row " + std::to_string(r));
                    } else {
                        const double* w = b.weights_per_row ? b.weights + r * c.n_weights() : b.weights;
                        const double* x = b.inputs ? b.inputs + r * c.n_inputs() : nullptr;
                        if (!shared) {
                            c.bind(w, x, a);
                            continue;
                        }
                        // Only the row ops' angles (Circuit::bind's arithmetic; it raises the error).
                        bool finite = true;
                        for (size_t j = 0; j < row_angles.size(); ++j) {
                            const int p = row_angles[j];
                            const ParamRef& ref = row_refs[j];
                            double v = ref.offset;
                            if (ref.kind == ParamRef::Weight) v += ref.scale * w[ref.index];
                            else if (ref.kind == ParamRef::Input) v += ref.scale * x[ref.index];
                            finite = finite && std::isfinite(v);
                            a[p] = v;
                        }
                        if (!finite) c.bind(w, x, a);
                    }
                }
                lane_bind<F>(program_, *lanes_, angles, with_derivs, ws.bind, {lre, lim},
                             shared ? BindOps::PerRow : BindOps::All);
                body(r0, valid, angles, lre, lim, states);
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
// multiplied into one 2x2 per lane first). keep (LanePlan::n_kept() > 0): the state before every kept item,
// slot k at keep + k * 2 * 2^n * kLanes (re, then im). The kept items apply out of place, slot k into slot
// k + 1 (the last into re, im), so keeping costs no copies.
template <class F>
void Simulator::lane_forward(F* re, F* im, const F* lre, const F* lim, F* keep) const {
    const LanePlan& plan = *lanes_;
    const int n = program_.n_wires();
    const uint32_t size = uint32_t(1) << n;
    const LaneState<F> out{re, im};
    auto slot_state = [&](int k) {
        return k < plan.n_kept() ? LaneState<F>{keep + size_t(k) * 2 * size * L, keep + (size_t(k) * 2 + 1) * size * L}
                                 : out;
    };
    LaneState<F> s = keep ? slot_state(0) : out;
    re = s.re;
    im = s.im;
    if (plan.prefix_end() > 0) {
        // The product state of the prefix, its vectors kept for the adjoint sweep (lane_work().prefix).
        LaneWork<F>& ws = lane_work<F>();
        double* A = sized(ws.prefix, plan.prefix_end() * 4 * L);
        prefix_vectors<F>(plan, program_, lre, lim, A);
        prefix_state<F>(plan, n, A, sized(ws.kron, 4 * size_t(size) * L), s);
    } else {
        std::fill(re, re + size_t(size) * L, F(0));
        std::fill(im, im + size_t(size) * L, F(0));
        for (int l = 0; l < L; ++l) re[l] = F(1);
    }
    const auto& kernels = program_.kernels();
    const auto& schedule = plan.schedule();
    for (size_t it = 0; it < schedule.size(); ++it) {
        const auto& item = schedule[it];
        const LaneOp& fop = plan.forward_ops()[it];
        if (fop.kind == LaneOp::Perm) continue;
        if (item.size() == 1) {
            const OpKernel& k = kernels[item[0]];
            const LaneMat<F> m{lre + size_t(k.mat_offset) * L, lim + size_t(k.mat_offset) * L};
            if (keep && plan.kept_slot()[it] >= 0) {
                const LaneState<F> next = slot_state(plan.kept_slot()[it] + 1);
                lane_apply<F>(s, next, fop, m, size);
                s = next;
            } else {
                lane_apply<F>(s, fop, m, size);
            }
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
        block_apply<F, 2>(s, s, fop, {fr, fi});
    }
}

namespace {

// The values of a lane block (out[(r0 + l) * no + o] for its valid lanes) and, with lams, the adjoint
// sweep's starting lambdas: lams[o] = H_o psi (cot == nullptr), or lams[0] = sum_o cot[r, o] H_o psi.
template <class F>
void lane_values(const LanePlan& plan, LaneState<F> psi, uint32_t size, int64_t r0, int valid, double* out,
                 LaneState<F>* lams, const double* cot) {
    const auto& obs = plan.observables();
    const int no = static_cast<int>(obs.size());
    LaneWork<F>& ws = lane_work<F>();
    double* sc = cot ? sized(ws.scale, size_t(std::max(1, no)) * L) : nullptr;
    if (cot)
        for (int o = 0; o < no; ++o)
            for (int l = 0; l < L; ++l) sc[o * L + l] = cot[(r0 + std::min(l, valid - 1)) * no + o];
    if (plan.diagonal_observables()) {
        double* v = sized(ws.vals, (size_t(std::max(1, no)) + size) * L);
        lane_diagonal_pass<F>(psi, size, obs, v, lams, sc, v + size_t(std::max(1, no)) * L);
        for (int o = 0; o < no; ++o)
            for (int l = 0; l < valid; ++l) out[(r0 + l) * no + o] = v[o * L + l];
        return;
    }
    double v[L];
    const int nl = lams ? (cot ? 1 : no) : 0;
    for (int s = 0; s < nl; ++s) {
        std::fill(lams[s].re, lams[s].re + size_t(size) * L, F(0));
        std::fill(lams[s].im, lams[s].im + size_t(size) * L, F(0));
    }
    for (int o = 0; o < no; ++o) {
        if (obs[o].diagonal) {
            // d_o psi through the general path: the diagonal's coefficients as one term per amplitude.
            vd acc{};
            for (uint32_t j = 0; j < size; ++j) {
                const vd pr = widen<F>(at(psi.re, j)), pi = widen<F>(at(psi.im, j));
                acc += obs[o].diag[j] * (pr * pr + pi * pi);
                if (!lams) continue;
                const LaneState<F>& t = lams[cot ? 0 : o];
                V<F> d;
                for (int l = 0; l < L; ++l) d[l] = F(obs[o].diag[j] * (cot ? sc[o * L + l] : 1.0));
                at(t.re, j) += d * at(psi.re, j);
                at(t.im, j) += d * at(psi.im, j);
            }
            for (int l = 0; l < L; ++l) v[l] = acc[l];
        } else {
            lane_expval<F>(psi, size, obs[o], v);
            if (lams) lane_accumulate_observable<F>(psi, size, obs[o], lams[cot ? 0 : o], cot ? sc + o * L : nullptr);
        }
        for (int l = 0; l < valid; ++l) out[(r0 + l) * no + o] = v[l];
    }
}

}  // namespace

template <class F>
void Simulator::lane_expval_t(const Batch& b, double* out) const {
    const int n = program_.n_wires();
    const size_t size = size_t(1) << n;
    for_lane_blocks<F>(b, 1, false, [&](int64_t r0, int valid, const double*, const F* lre, const F* lim, F* st) {
        F* re = st;
        F* im = st + size * L;
        lane_forward<F>(re, im, lre, lim);
        lane_values<F>(*lanes_, {re, im}, uint32_t(size), r0, valid, out, nullptr, nullptr);
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
    // With a trainable product-state prefix the sweep ends at the prefix (every lambda carried back to it).
    const bool use_prefix = plan.prefix_end() > 0 && stop < plan.prefix_end();
    const size_t lo = use_prefix ? plan.prefix_end() : stop;
    // The Jacobian (not the VJP, not the angle gradients) takes the chain rule per lane block, from each
    // angle's parameter reference (Circuit::chain's, in angle order).
    const bool direct = !cot && !dangles && !b.angles;
    // Whether the input parameters' derivatives are asked for (the prefix's tangents of input angles are
    // skipped otherwise; the suffix's share their overlaps with the weights' and stay).
    const bool need_inputs = dx != nullptr || dangles != nullptr;
    const int nw = c.n_weights(), nx = c.n_inputs();
    // The chain rule's references (LanePlan::chain_refs, built with the plan).
    const int n_wrefs = plan.n_weight_refs();
    const int n_refs = static_cast<int>(plan.chain_refs().size());
    const ChainRef* const flat_refs = plan.chain_refs().data();
    const ChainRef* const onto_refs[2] = {plan.chain_onto(0).empty() ? nullptr : plan.chain_onto(0).data(),
                                          plan.chain_onto(1).empty() ? nullptr : plan.chain_onto(1).data()};
    // Kept forward states (LanePlan::n_kept): states 1 + nl on, the sweep over the schedule's items (the
    // Jacobian's, the VJP's and the angle gradients').
    const int n_kept = nl > 0 ? plan.n_kept() : 0;
    for_lane_blocks<F>(b, 1 + nl + n_kept, true, [&](int64_t r0, int valid, const double*, const F* lre, const F* lim, F* st) {
        auto state = [&](int s) { return LaneState<F>{st + size_t(2 * s) * size * L, st + size_t(2 * s + 1) * size * L}; };
        LaneState<F> phi = state(0);
        lane_forward<F>(phi.re, phi.im, lre, lim, n_kept ? state(1 + nl).re : nullptr);
        LaneState<F>* lp = sized(lane_work<F>().lams, size_t(nl));
        for (int s = 0; s < nl; ++s) lp[s] = state(1 + s);
        lane_values<F>(plan, phi, size, r0, valid, vals, lp, cot);
        // g[(lambda * na + angle) * L + lane]
        LaneWork<F>& ws = lane_work<F>();
        double* g = sized(ws.g, size_t(nl) * na * L);
        std::fill(g, g + size_t(nl) * na * L, 0.0);
        const size_t half = (size_t(1) << std::max(6, n)) * L;
        double* gr = sized(ws.gbuf, 2 * half);
        double* gi = gr + half;
        if (n_kept) {
            // Backwards over the forward schedule's items (single ops, tables through the map where the forward
            // applied them), phi the state the forward kept before each trainable item. The lambdas are
            // carried to the prefix, or else to the first trainable item.
            const auto& sched = plan.schedule();
            const auto& slot = plan.kept_slot();
            size_t first = 0;
            while (first < sched.size() && slot[first] < 0) ++first;
            for (size_t it = sched.size(); it-- > (use_prefix ? size_t(0) : first);) {
                const LaneOp& lop = plan.forward_ops()[it];
                if (lop.kind == LaneOp::Perm) continue;
                const size_t op = size_t(sched[it][0]);
                const OpKernel& k = kernels[op];
                const LaneMat<F> inv{lre + (mat_total + k.mat_offset) * L, lim + (mat_total + k.mat_offset) * L};
                const bool update = use_prefix || it > first;
                if (slot[it] < 0) {
                    if (update)
                        for (int lam = 0; lam < nl; ++lam) lane_apply<F>(lp[lam], lop, inv, size);
                    continue;
                }
                const LaneState<F> ph = state(1 + nl + slot[it]);
                const int p0 = c.angle_offset(op);
                const int np = static_cast<int>(ops[op].params.size());
                const size_t d0 = 2 * mat_total + size_t(k.dmat_offset);
                if (lop.kind == LaneOp::Block && lop.dim == 2) {
                    block2_adjoint<F>(ph, false, lp, nl, lop, inv, update, lre + d0 * L, lim + d0 * L, k.mat_size,
                                      k.trainable_mask, np, gr, g + size_t(p0) * L, size_t(na) * L);
                    continue;
                }
                for (int lam = 0; lam < nl; ++lam) {
                    int entries;
                    if (lop.kind == LaneOp::Diag) {
                        diag_overlap<F>(lp[lam], ph, lop, size, gr, gi);
                        entries = lop.dim;
                    } else {
                        if (lop.dim == 4) block_overlap<F, 4>(lp[lam], ph, lop, gr, gi);
                        else block_overlap<F, 8>(lp[lam], ph, lop, gr, gi);
                        entries = lop.dim * lop.dim;
                    }
                    lane_param_derivs<F>(lre + d0 * L, lim + d0 * L, k.mat_size, k.trainable_mask, np, entries, gr, gi,
                                         g + (size_t(lam) * na + p0) * L);
                    if (update) lane_apply<F>(lp[lam], lop, inv, size);
                }
            }
        }
        for (size_t op = program_.n_ops(); !n_kept && op-- > lo;) {
            const OpKernel& k = kernels[op];
            const LaneOp& lop = plan.ops()[op];
            const LaneMat<F> inv{lre + (mat_total + k.mat_offset) * L, lim + (mat_total + k.mat_offset) * L};
            const int p0 = c.angle_offset(op);
            const int np = static_cast<int>(ops[op].params.size());
            const size_t d0 = 2 * mat_total + size_t(k.dmat_offset);
            if (k.trainable_mask && lop.kind == LaneOp::Block && lop.dim == 2 && nl > 0) {
                // One pass per lambda (the first also un-applies the op from phi), all in one call.
                block2_adjoint<F>(phi, true, lp, nl, lop, inv, op > stop, lre + d0 * L, lim + d0 * L, k.mat_size,
                                  k.trainable_mask, np, gr, g + size_t(p0) * L, size_t(na) * L);
                continue;
            }
            lane_apply<F>(phi, lop, inv, size);
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
                    lane_param_derivs<F>(lre + d0 * L, lim + d0 * L, k.mat_size, k.trainable_mask, np, entries, gr,
                                         gi, g + (size_t(lam) * na + p0) * L);
                }
                if (op > stop) lane_apply<F>(ls, lop, inv, size);
            }
        }
        if (use_prefix) {
            // The prefix's derivatives from the lambdas at the prefix's end (in the circuit's own layout: no
            // permutation comes before it), all lambdas at once: the conjugated lambdas side by side (an
            // entry of W = nl * L doubles), their contractions on every wire, the rank-one overlaps with the
            // parameters' tangents.
            const double* A = ws.prefix.data();
            const size_t W = size_t(nl) * L;
            double* T = sized(ws.contr, 6 * size_t(size) * W);
            double* C = sized(ws.wires, size_t(n) * 4 * W);
            double* Tg = sized(ws.tangents, plan.prefix_params().size() * 4 * L);
            prefix_tangents<F>(plan, program_, lre, lim, A, need_inputs, Tg);
            if (n >= 2) {
                prefix_contract_lams<F>(plan, A, lp, nl, n, T + 2 * size_t(size) * W, C);
            } else {
                conjugated_lambdas<F>(lp, nl, size, T);
                prefix_contract(plan, A, T, nl, 0, n, T + 2 * size_t(size) * W, C);
            }
            prefix_param_derivs(plan, Tg, C, nl, na, need_inputs, g);
        }
        if (direct) {
            // The chain rule straight from the lane layout into the Jacobian's rows.
            // (The references' sums in lane layout, then transposed into the rows: every entry written once.)
            double* G = sized(ws.chain, size_t(nl) * size_t(std::max(nw, nx)) * L);
            for (int part = 0; part < 2; ++part) {
                double* out = part == 0 ? dw : dx;
                const int m = part == 0 ? nw : nx;
                if (!out || !m) continue;
                if (onto_refs[part]) {
                    lane_rows_onto(g, nl, na, onto_refs[part], m, valid, out + r0 * nl * size_t(m));
                    continue;
                }
                if (part == 0) lane_chain(g, nl, na, flat_refs, n_wrefs, m, G);
                else lane_chain(g, nl, na, flat_refs + n_wrefs, n_refs - n_wrefs, m, G);
                lane_rows(G, size_t(nl) * size_t(m), valid, out + r0 * nl * size_t(m));
            }
            return;
        }
        double* grow = sized(ws.grow, size_t(nl) * na);
        for (int l = 0; l < valid; ++l) {
            const int64_t r = r0 + l;
            for (int lam = 0; lam < nl; ++lam)
                for (int a = 0; a < na; ++a) grow[size_t(lam) * na + a] = g[(size_t(lam) * na + a) * L + l];
            out.take(r, grow);
        }
    });
    out.finish();
}

template void Simulator::lane_expval_t<double>(const Batch&, double*) const;
template void Simulator::lane_expval_t<float>(const Batch&, double*) const;
template void Simulator::lane_adjoint_t<double>(const Batch&, const double*, double*, double*, double*, double*) const;
template void Simulator::lane_adjoint_t<float>(const Batch&, const double*, double*, double*, double*, double*) const;

}  // namespace pyqml::sv
