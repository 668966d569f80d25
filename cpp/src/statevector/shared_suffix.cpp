#include "pyqml/statevector/shared_suffix.hpp"

// The shared-suffix path of the state-vector method (the derivation is in shared_suffix.hpp).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/statevector/lanes.hpp"
#include "pyqml/statevector/measure.hpp"
#include "vector_width.hpp"

namespace pyqml::sv {

namespace {

std::atomic<bool> g_shared_suffix{true}, g_shared_suffix_forced{false};

constexpr int64_t kCmul = 6, kCadd = 2;
// product_prefix_gradient's scratch: factors, a wire's vectors (at most 64 ops), R, L, reduced vectors.
constexpr size_t kPrefixWork = 4 * kSharedSuffixMaxWires + 128 + 2 * (size_t(1) << kSharedSuffixMaxWires);
// The cost model's weights, in units of a lane-kernel flop (the row paths' cost is their modelled flops),
// fitted to the seed QNN's shape at 2 and 8 layers, 150 and 1000 rows, one thread (bench/results/
// shared_suffix.md, 2026-12-02): the per-row work (product states, the GEMMs, values and lambdas, all
// vectorised over rows) ran 0.3-0.8x the lanes' time per modelled flop, the per-call work on the 2n-wire
// register (U's construction, the sweep over X: the per-row gate kernels on 2^(2n) amplitudes) about 2x.
constexpr double kRowWeight = 0.25, kCallWeight = 2.0;

size_t split_of(const Circuit& c) {
    size_t split = 0;
    const auto& ops = c.ops();
    for (size_t i = 0; i < ops.size(); ++i)
        for (const ParamRef& p : ops[i].params)
            if (p.kind == ParamRef::Input) split = i + 1;
    return split;
}

Circuit prefix_of(const Circuit& c, size_t split) {
    std::vector<Op> ops(c.ops().begin(), c.ops().begin() + std::ptrdiff_t(split));
    return Circuit(c.n_wires(), std::move(ops), c.n_weights(), c.n_inputs());
}

Circuit doubled_suffix_of(const Circuit& c, size_t split) {
    std::vector<Op> ops(c.ops().begin() + std::ptrdiff_t(split), c.ops().end());
    return Circuit(2 * c.n_wires(), std::move(ops), c.n_weights(), 0);
}

}  // namespace

bool shared_suffix_enabled() { return g_shared_suffix.load(std::memory_order_relaxed); }
bool shared_suffix_forced() { return g_shared_suffix_forced.load(std::memory_order_relaxed); }
void set_shared_suffix_enabled(bool on, bool forced) {
    g_shared_suffix_forced.store(on && forced, std::memory_order_relaxed);
    g_shared_suffix.store(on, std::memory_order_relaxed);
}

std::unique_ptr<const SharedSuffix> SharedSuffix::build(const Circuit& c,
                                                        const std::vector<std::vector<PauliMasks>>& obs) {
    if (c.n_wires() > kSharedSuffixMaxWires || c.has_channels()) return nullptr;
    const size_t split = split_of(c);
    if (split >= c.ops().size()) return nullptr;
    return std::make_unique<const SharedSuffix>(c, split, obs);
}

SharedSuffix::SharedSuffix(const Circuit& c, size_t split, const std::vector<std::vector<PauliMasks>>& obs)
    : n_(c.n_wires()), split_(split), prefix_circuit_(prefix_of(c, split)), prefix_(prefix_circuit_),
      doubled_(doubled_suffix_of(c, split)), obs_(obs) {
    wire_ops_.resize(size_t(n_));
    for (size_t i = 0; i < split_; ++i) {
        const Op& op = c.ops()[i];
        if (op.wires.size() != 1) product_ = false;
        else wire_ops_[size_t(op.wires[0])].push_back(static_cast<int>(i));
        for (const ParamRef& p : op.params) prefix_reads_weights_ |= p.kind == ParamRef::Weight;
    }
    for (const auto& wo : wire_ops_) product_ &= wo.size() <= 64;  // product_prefix_gradient's buffer
    if (product_) {
        using gates::GateId;
        binds_.resize(split_);
        for (size_t i = 0; i < split_; ++i) {
            const Op& op = c.ops()[i];
            PrefixBind& pb = binds_[i];
            bool input = false;
            for (const ParamRef& p : op.params) input |= p.kind == ParamRef::Input;
            if (!input) {
                pb.kind = PrefixBind::Shared;
            } else if (op.params.size() == 1 && op.gate != GateId::QubitUnitary) {
                pb.ref = op.params[0];
                pb.kind = op.gate == GateId::RX   ? PrefixBind::RX
                          : op.gate == GateId::RY ? PrefixBind::RY
                          : op.gate == GateId::RZ ? PrefixBind::RZ
                          : op.gate == GateId::PhaseShift ? PrefixBind::Phase
                                                          : PrefixBind::PerRow;
            }
            per_row_binds_ |= pb.kind == PrefixBind::PerRow;
        }
    }
    const size_t size = size_t(1) << n_;
    bool diagonal = true;
    for (const auto& o : obs_) {
        n_terms_ += int64_t(o.size());
        for (const PauliMasks& t : o) diagonal &= t.xmask == 0 && t.phase.imag() == 0.0;
    }
    if (diagonal) {
        diag_.assign(obs_.size() * size, 0.0);
        for (size_t k = 0; k < obs_.size(); ++k)
            for (const PauliMasks& t : obs_[k])
                for (size_t i = 0; i < size; ++i)
                    diag_[k * size + i] += (__builtin_popcountll(index_t(i) & t.zmask) & 1) ? -t.phase.real()
                                                                                            : t.phase.real();
    }
}

// ---------------------------------------------------------------------------------------------------
// Flops and the cost model
// ---------------------------------------------------------------------------------------------------

int64_t SharedSuffix::observable_flops(bool lambda) const {
    const int64_t size = int64_t(1) << n_;
    const int64_t no = int64_t(obs_.size());
    if (!diag_.empty()) {
        // |phi_i|^2 once (3 flops), then one multiply-add per observable; lambda: the weight of each amplitude
        // (one multiply-add per observable) and its product with phi (2 real multiplies).
        return lambda ? size * (2 * no + 2) : size * (3 + 2 * no);
    }
    return n_terms_ * (kCmul + kCadd) * size;  // flops.cpp's Pauli-term model, for the values or for lambda
}

int64_t SharedSuffix::prefix_flops() const {
    if (!product_) return prefix_.forward_flops();
    // Per prefix op a 2x2 (or diagonal) matrix times the wire's 2-vector, then the Kronecker product: 2^k
    // complex multiplies for the k-th wire (k = 2..n).
    int64_t f = 0;
    for (size_t i = 0; i < split_; ++i)
        f += prefix_.kernel(i).kind == OpKernel::Diagonal ? 2 * kCmul : 4 * kCmul + 2 * kCadd;
    for (int k = 2; k <= n_; ++k) f += (int64_t(1) << k) * kCmul;
    return f;
}

int64_t SharedSuffix::values_flops(int64_t rows) const {
    const int64_t d = int64_t(1) << n_;
    return doubled_.forward_flops() + rows * (prefix_flops() + 8 * d * d + observable_flops(false));
}

int64_t SharedSuffix::backward_flops(int64_t rows) const {
    const int64_t d = int64_t(1) << n_;
    return rows * (observable_flops(true) + 8 * d * d) + adjoint_sweep_flops(doubled_, 1);
}

int64_t SharedSuffix::vjp_flops(int64_t rows, bool with_dx) const {
    const int64_t d = int64_t(1) << n_;
    int64_t f = values_flops(rows) + backward_flops(rows);
    if (prefix_gradients(with_dx)) f += rows * (8 * d * d + prefix_gradient_flops());
    return f;
}

int64_t SharedSuffix::prefix_gradient_flops() const {
    if (!product_) return adjoint_sweep_flops(prefix_, 1);
    // product_prefix_gradient: every op's 2x2 product with its wire's vector (28 flops; the kernel multiplies a
    // diagonal's zeros too) for the factors a_w; the products R_w of the lower wires' factors (2^k complex
    // multiplies for the k-th, k = 1..n-1); per wire w the reduced vector (2^(n-w) complex multiply-adds) and
    // lambda contracted with a_w (2^(n-w) complex multiplies, 2^(n-w-1) adds); then per wire with a trainable
    // op its vectors again, per trainable parameter dG v (28), its product with mu (2 complex multiplies, 1
    // complex add) and the doubling (2), and mu <- mu g (28) per op.
    const int64_t mv = 4 * kCmul + 2 * kCadd;
    int64_t f = int64_t(split_) * mv;
    for (int k = 1; k < n_; ++k) f += (int64_t(1) << k) * kCmul;
    for (int w = 0; w < n_; ++w) {
        const int64_t part = int64_t(1) << (n_ - w);
        f += part * (kCmul + kCadd) + part * kCmul + (part / 2) * kCadd;
    }
    for (const auto& wops : wire_ops_) {
        int64_t params = 0;
        for (int op : wops) {
            const unsigned mask = prefix_.kernel(size_t(op)).trainable_mask;
            params += __builtin_popcount(mask);
        }
        if (params == 0) continue;
        f += int64_t(wops.size()) * 2 * mv + params * (mv + 2 * kCmul + kCadd + 2);
    }
    return f;
}

double SharedSuffix::cost(int64_t rows, bool vjp, bool with_dx) const {
    // Measured (bench/results/shared_suffix.md): a VJP with the prefix's per-row gradients (input gradients,
    // weights in the prefix) ran slower than the lane kernels on the seed QNN, so the model sends it to the
    // rows; forced mode (tests) still takes it.
    if (vjp && prefix_gradients(with_dx)) return std::numeric_limits<double>::infinity();
    const double call = double(doubled_.forward_flops());
    const double per_rows = double(values_flops(rows)) - call;
    const double c = kCallWeight * call + kRowWeight * per_rows;
    return vjp ? c + backward_cost(rows) : c;
}

double SharedSuffix::backward_cost(int64_t rows) const {
    const double call = double(adjoint_sweep_flops(doubled_, 1));
    return kCallWeight * call + kRowWeight * (double(backward_flops(rows)) - call);
}

// ---------------------------------------------------------------------------------------------------
// The pieces
// ---------------------------------------------------------------------------------------------------

template <class F>
void SharedSuffix::suffix_unitary(const cplx* smats, amp_t<F>* u) const {
    // The suffix's fused forward schedule (as Program::forward_per_gate) applied to vec(I) on 2n wires: row i,
    // column c of U at u[i * D + c].
    const int n2 = 2 * n_;
    const size_t d = size_t(1) << n_;
    std::fill(u, u + d * d, amp_t<F>(0));
    for (size_t i = 0; i < d; ++i) u[i * d + i] = 1;
    for (const auto& item : doubled_.schedule()) {
        if (item.size() == 1) {
            doubled_.template apply<F>(size_t(item[0]), u, smats, false, false);
            continue;
        }
        cplx acc[4];
        doubled_.fuse_run(item, smats, acc);
        apply_dense1<F>(u, n2, doubled_.kernel(size_t(item[0])).bits[0], acc, false);
    }
}

// ---------------------------------------------------------------------------------------------------
// Chunk kernels: rows innermost (amplitude i of chunk row r at re[i * cr + r]), cr a multiple of kRowPad,
// one 32-byte vector of rows per step (GCC/Clang vector extensions, multi-versioned like lanes.cpp: the
// AVX-512 clone is the x86-64-v4 level, since a plain "avx512f" clone gives these 256-bit kernels no FMA).
// ---------------------------------------------------------------------------------------------------
namespace {

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PYQML_NATIVE_BUILD)
#if __GNUC__ >= 12
#define PYQML_SS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYQML_SS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#else
#define PYQML_SS_CLONES
#endif

constexpr size_t kRowPad = 8;
constexpr size_t kMaxChunkRows = 2048;  // chunk_rows' largest chunk (4096 amplitudes at n = 1)
// VB bytes of a chunk's rows as one vector (32; or 64, eight doubles, in the 512-bit builds), F-aligned so
// any row can start one.
template <class F, int VB>
struct RowVec {
    typedef F type __attribute__((vector_size(VB), aligned(sizeof(F))));
};
template <class F, int VB = 32>
using RV = typename RowVec<F, VB>::type;
template <int VB, class F>
__attribute__((always_inline)) inline const RV<F, VB>& rows_at(const F* p) {
    return *reinterpret_cast<const RV<F, VB>*>(p);
}
template <int VB, class F>
__attribute__((always_inline)) inline void rows_put(F* p, const RV<F, VB>& v) {
    *reinterpret_cast<RV<F, VB>*>(p) = v;
}

// Rows of a chunk: at most about 4096 amplitudes a block (D x cr: the chunk's blocks stay in L2), at least
// kRowPad rows.
size_t chunk_rows(int64_t rows, int n) {
    const size_t cap = std::min(kMaxChunkRows, std::max<size_t>(kRowPad, (size_t(4096) >> n) / kRowPad * kRowPad));
    const size_t padded = (size_t(rows) + kRowPad - 1) / kRowPad * kRowPad;
    return std::min(cap, std::max(padded, kRowPad));
}

// out = M in for every row: M (d x d, split re / im, row-major), in / out chunk blocks. IB output amplitudes
// at a time, their accumulators in registers; VB bytes of rows per vector (32, or 64 in double on AVX-512,
// apply_matrix_any: the same operations per row at either width).
template <class F, int IB, int VB>
__attribute__((always_inline)) inline void apply_matrix_body(int d, size_t cr, const F* __restrict mr,
                                                             const F* __restrict mi, const F* __restrict inr,
                                                             const F* __restrict ini, F* __restrict outr,
                                                             F* __restrict outi) {
    typedef RV<F, VB> W;
    constexpr size_t NV = VB / sizeof(F);
    for (size_t r0 = 0; r0 < cr; r0 += NV)
        for (int i0 = 0; i0 < d; i0 += IB) {
            W ar[IB], ai[IB];
            for (int k = 0; k < IB; ++k) ar[k] = ai[k] = W{};
            for (int c = 0; c < d; ++c) {
                const W pr = rows_at<VB>(inr + size_t(c) * cr + r0), pi = rows_at<VB>(ini + size_t(c) * cr + r0);
                for (int k = 0; k < IB; ++k) {
                    const F ur = mr[size_t(i0 + k) * d + c], ui = mi[size_t(i0 + k) * d + c];
                    ar[k] += ur * pr;  // one multiply-add each (no reassociation without fast-math)
                    ar[k] -= ui * pi;
                    ai[k] += ur * pi;
                    ai[k] += ui * pr;
                }
            }
            for (int k = 0; k < IB; ++k) {
                rows_put<VB>(outr + size_t(i0 + k) * cr + r0, ar[k]);
                rows_put<VB>(outi + size_t(i0 + k) * cr + r0, ai[k]);
            }
        }
}
// (Floats: eight rows, 32 bytes, at either width: a chunk holds a multiple of kRowPad = 8 rows.)
template <class F>
struct ApplyMatrix {
    template <int H>
    __attribute__((always_inline)) static void run(int d, size_t cr, const F* mr, const F* mi, const F* inr,
                                                   const F* ini, F* outr, F* outi) {
        constexpr int VB = std::is_same_v<F, double> ? H * 8 : 32;
        static_assert(kRowPad % (VB / sizeof(F)) == 0, "a chunk's rows fill whole vectors");
        if (d >= 4) apply_matrix_body<F, 4, VB>(d, cr, mr, mi, inr, ini, outr, outi);
        else apply_matrix_body<F, 2, VB>(d, cr, mr, mi, inr, ini, outr, outi);
    }
};
template <class F>
void apply_matrix_any(int d, size_t cr, const F* mr, const F* mi, const F* inr, const F* ini, F* outr, F* outi) {
    vector_run<ApplyMatrix<F>>(d, cr, mr, mi, inr, ini, outr, outi);
}

// x[i][j] += sum_r a[i][r] b[j][r] (complex; x in double, d x d re / im), 2 x 2 outputs at a time, the
// rows summed in a fixed order: VB bytes of rows per vector (32, or 64 in double on AVX-512), lane l
// summing rows l, l + NV, ..., then the lanes in order (the two widths round differently).
template <class F, int VB>
__attribute__((always_inline)) inline void outer_accumulate_body(int d, size_t cr, const F* __restrict ar,
                                                                 const F* __restrict ai, const F* __restrict br,
                                                                 const F* __restrict bi, double* __restrict xr,
                                                                 double* __restrict xi) {
    typedef RV<F, VB> W;
    constexpr size_t NV = VB / sizeof(F);
    auto at = [](const F* p) { return rows_at<VB>(p); };
    auto sum = [](const W& v) {
        double t = 0.0;
        for (size_t l = 0; l < NV; ++l) t += double(v[l]);
        return t;
    };
    for (int i = 0; i < d; i += 2)
        for (int j = 0; j < d; j += 2) {
            W s[8];
            for (auto& v : s) v = W{};
            const F *a0r = ar + size_t(i) * cr, *a0i = ai + size_t(i) * cr, *a1r = a0r + cr, *a1i = a0i + cr;
            const F *b0r = br + size_t(j) * cr, *b0i = bi + size_t(j) * cr, *b1r = b0r + cr, *b1i = b0i + cr;
            for (size_t r = 0; r < cr; r += NV) {
                const W xr0 = at(a0r + r), xi0 = at(a0i + r), xr1 = at(a1r + r), xi1 = at(a1i + r);
                const W yr0 = at(b0r + r), yi0 = at(b0i + r), yr1 = at(b1r + r), yi1 = at(b1i + r);
                s[0] += xr0 * yr0;
                s[0] -= xi0 * yi0;
                s[1] += xr0 * yi0;
                s[1] += xi0 * yr0;
                s[2] += xr0 * yr1;
                s[2] -= xi0 * yi1;
                s[3] += xr0 * yi1;
                s[3] += xi0 * yr1;
                s[4] += xr1 * yr0;
                s[4] -= xi1 * yi0;
                s[5] += xr1 * yi0;
                s[5] += xi1 * yr0;
                s[6] += xr1 * yr1;
                s[6] -= xi1 * yi1;
                s[7] += xr1 * yi1;
                s[7] += xi1 * yr1;
            }
            xr[size_t(i) * d + j] += sum(s[0]);
            xi[size_t(i) * d + j] += sum(s[1]);
            xr[size_t(i) * d + j + 1] += sum(s[2]);
            xi[size_t(i) * d + j + 1] += sum(s[3]);
            xr[size_t(i + 1) * d + j] += sum(s[4]);
            xi[size_t(i + 1) * d + j] += sum(s[5]);
            xr[size_t(i + 1) * d + j + 1] += sum(s[6]);
            xi[size_t(i + 1) * d + j + 1] += sum(s[7]);
        }
}
template <class F>
struct OuterAccumulate {
    template <int H>
    __attribute__((always_inline)) static void run(int d, size_t cr, const F* ar, const F* ai, const F* br,
                                                   const F* bi, double* xr, double* xi) {
        outer_accumulate_body<F, std::is_same_v<F, double> ? H * 8 : 32>(d, cr, ar, ai, br, bi, xr, xi);
    }
};
template <class F>
void outer_accumulate(int d, size_t cr, const F* ar, const F* ai, const F* br, const F* bi, double* xr, double* xi) {
    vector_run<OuterAccumulate<F>>(d, cr, ar, ai, br, bi, xr, xi);
}

// diagonal_pass in double for at most 8 observables: per vector of VB bytes of rows the observables' sums
// (values) or the cotangents (lambdas) in registers (no sum across rows: the same bits at either width).
template <int VB>
__attribute__((always_inline)) inline void diagonal_rows(int d, int no, size_t cr, const double* __restrict diag,
                                                         const double* __restrict fr, const double* __restrict fi,
                                                         double* __restrict vals, const double* __restrict cot,
                                                         double* __restrict lr, double* __restrict li) {
    typedef RV<double, VB> W;
    constexpr size_t NV = VB / sizeof(double);
    auto at = [](const double* p) -> const W& { return rows_at<VB>(p); };
    auto put = [](double* p, const W& v) { rows_put<VB>(p, v); };
    for (size_t r = 0; r < cr; r += NV) {
        if (vals) {
            W acc[8];
            for (int k = 0; k < no; ++k) acc[k] = W{};
            for (int i = 0; i < d; ++i) {
                const W a = at(fr + size_t(i) * cr + r), b = at(fi + size_t(i) * cr + r);
                const W p = a * a + b * b;
                for (int k = 0; k < no; ++k) acc[k] += diag[size_t(k) * d + i] * p;
            }
            for (int k = 0; k < no; ++k) put(vals + size_t(k) * cr + r, acc[k]);
        }
        if (!cot) continue;
        W c[8];
        for (int k = 0; k < no; ++k) c[k] = at(cot + size_t(k) * cr + r);
        for (int i = 0; i < d; ++i) {
            W wv = W{};
            for (int k = 0; k < no; ++k) wv += diag[size_t(k) * d + i] * c[k];
            put(lr + size_t(i) * cr + r, at(fr + size_t(i) * cr + r) * wv);
            put(li + size_t(i) * cr + r, -at(fi + size_t(i) * cr + r) * wv);
        }
    }
}
struct DiagonalRows {
    template <int H>
    __attribute__((always_inline)) static void run(int d, int no, size_t cr, const double* diag, const double* fr,
                                                   const double* fi, double* vals, const double* cot, double* lr,
                                                   double* li) {
        diagonal_rows<H * 8>(d, no, cr, diag, fr, fi, vals, cot, lr, li);
    }
};

// Diagonal observables: vals[k][r] = sum_i diag[k][i] |phi_i|^2 (no x cr, in double; null: not wanted); with
// cot (no x cr, the chunk's cotangents transposed) conj(lambda) = conj(phi) * sum_k cot_k diag_k into lr / li.
template <class F>
PYQML_SS_CLONES void diagonal_pass(int d, int no, size_t cr, const double* __restrict diag, const F* __restrict fr,
                                   const F* __restrict fi, double* __restrict vals, const double* __restrict cot,
                                   F* __restrict lr, F* __restrict li) {
    if constexpr (std::is_same_v<F, double>) {
        if (no <= 8) {
            vector_run<DiagonalRows>(d, no, cr, diag, fr, fi, vals, cot, lr, li);
            return;
        }
    }
    if (vals) std::fill(vals, vals + size_t(no) * cr, 0.0);
    double prob[kMaxChunkRows];
    double w[kMaxChunkRows];
    for (int i = 0; i < d; ++i) {
        const F* __restrict pr = fr + size_t(i) * cr;
        const F* __restrict pi = fi + size_t(i) * cr;
        if (vals) {
            for (size_t r = 0; r < cr; ++r) prob[r] = double(pr[r]) * double(pr[r]) + double(pi[r]) * double(pi[r]);
            for (int k = 0; k < no; ++k) {
            const double g = diag[size_t(k) * d + i];
            double* __restrict v = vals + size_t(k) * cr;
                for (size_t r = 0; r < cr; ++r) v[r] += g * prob[r];
            }
        }
        if (!cot) continue;
        std::fill(w, w + cr, 0.0);
        for (int k = 0; k < no; ++k) {
            const double g = diag[size_t(k) * d + i];
            const double* __restrict c = cot + size_t(k) * cr;
            for (size_t r = 0; r < cr; ++r) w[r] += c[r] * g;
        }
        F* __restrict l_r = lr + size_t(i) * cr;
        F* __restrict l_i = li + size_t(i) * cr;
        for (size_t r = 0; r < cr; ++r) {
            l_r[r] = F(double(pr[r]) * w[r]);
            l_i[r] = F(-double(pi[r]) * w[r]);
        }
    }
}

// A product prefix's wire vectors, all rows of a chunk at once: a = (a0r, a0i, a1r, a1i), each cr long.
PYQML_SS_CLONES void wire_dense(size_t cr, const cplx* m, double* __restrict a) {
    const double m0r = m[0].real(), m0i = m[0].imag(), m1r = m[1].real(), m1i = m[1].imag();
    const double m2r = m[2].real(), m2i = m[2].imag(), m3r = m[3].real(), m3i = m[3].imag();
    double *a0r = a, *a0i = a + cr, *a1r = a + 2 * cr, *a1i = a + 3 * cr;
    for (size_t r = 0; r < cr; ++r) {
        const double xr = a0r[r], xi = a0i[r], yr = a1r[r], yi = a1i[r];
        a0r[r] = m0r * xr - m0i * xi + m1r * yr - m1i * yi;
        a0i[r] = m0r * xi + m0i * xr + m1r * yi + m1i * yr;
        a1r[r] = m2r * xr - m2i * xi + m3r * yr - m3i * yi;
        a1i[r] = m2r * xi + m2i * xr + m3r * yi + m3i * yr;
    }
}
PYQML_SS_CLONES void wire_diagonal(size_t cr, const cplx* m, double* __restrict a) {
    const double m0r = m[0].real(), m0i = m[0].imag(), m1r = m[1].real(), m1i = m[1].imag();
    double *a0r = a, *a0i = a + cr, *a1r = a + 2 * cr, *a1i = a + 3 * cr;
    for (size_t r = 0; r < cr; ++r) {
        const double xr = a0r[r], xi = a0i[r], yr = a1r[r], yi = a1i[r];
        a0r[r] = m0r * xr - m0i * xi;
        a0i[r] = m0r * xi + m0i * xr;
        a1r[r] = m1r * yr - m1i * yi;
        a1i[r] = m1r * yi + m1i * yr;
    }
}
// Rotations from per-row sines and cosines of their half angles (RX, RY, RZ) or phases (PhaseShift), the
// matrices of gate_table.cpp: RX [[c, -is], [-is, c]], RY [[c, -s], [s, c]], RZ diag(c - is, c + is),
// PhaseShift diag(1, c + is).
PYQML_SS_CLONES void wire_rotation(int kind, size_t cr, const double* __restrict sn, const double* __restrict cs,
                                   double* __restrict a) {
    double *__restrict a0r = a, *__restrict a0i = a + cr, *__restrict a1r = a + 2 * cr, *__restrict a1i = a + 3 * cr;
    if (kind == 0) {  // RX
        for (size_t r = 0; r < cr; ++r) {
            const double s = sn[r], c = cs[r], xr = a0r[r], xi = a0i[r], yr = a1r[r], yi = a1i[r];
            a0r[r] = c * xr + s * yi;
            a0i[r] = c * xi - s * yr;
            a1r[r] = s * xi + c * yr;
            a1i[r] = -s * xr + c * yi;
        }
    } else if (kind == 1) {  // RY
        for (size_t r = 0; r < cr; ++r) {
            const double s = sn[r], c = cs[r], xr = a0r[r], xi = a0i[r], yr = a1r[r], yi = a1i[r];
            a0r[r] = c * xr - s * yr;
            a0i[r] = c * xi - s * yi;
            a1r[r] = s * xr + c * yr;
            a1i[r] = s * xi + c * yi;
        }
    } else {
        if (kind == 2)  // RZ: the |0> component
            for (size_t r = 0; r < cr; ++r) {
                const double s = sn[r], c = cs[r], xr = a0r[r], xi = a0i[r];
                a0r[r] = c * xr + s * xi;
                a0i[r] = c * xi - s * xr;
            }
        for (size_t r = 0; r < cr; ++r) {  // RZ and PhaseShift: the |1> component
            const double s = sn[r], c = cs[r], yr = a1r[r], yi = a1i[r];
            a1r[r] = c * yr - s * yi;
            a1i[r] = c * yi + s * yr;
        }
    }
}
// One Kronecker step out of place: d (2 len amplitudes) = t (len amplitudes) (x) a (wire 0 is the most
// significant bit, so the wires are taken from the first on).
template <class F>
PYQML_SS_CLONES void kron_step(size_t len, size_t cr, const double* __restrict a, const F* __restrict tr,
                               const F* __restrict ti, F* __restrict dr, F* __restrict di) {
    const double *__restrict a0r = a, *__restrict a0i = a + cr, *__restrict a1r = a + 2 * cr, *__restrict a1i = a + 3 * cr;
    for (size_t j = 0; j < len; ++j) {
        const F* __restrict sr = tr + j * cr;
        const F* __restrict si = ti + j * cr;
        F* __restrict lr = dr + 2 * j * cr;
        F* __restrict li = di + 2 * j * cr;
        F* __restrict hr = lr + cr;
        F* __restrict hi = li + cr;
        for (size_t r = 0; r < cr; ++r) {
            const double xr = sr[r], xi = si[r];
            lr[r] = F(xr * a0r[r] - xi * a0i[r]);
            li[r] = F(xr * a0i[r] + xi * a0r[r]);
            hr[r] = F(xr * a1r[r] - xi * a1i[r]);
            hi[r] = F(xr * a1i[r] + xi * a1r[r]);
        }
    }
}

// Thread-local scratch, grown on demand; buffers above kKeepBytes are released after the call.
constexpr size_t kKeepBytes = size_t(8) << 20;
template <class T, class A>
T* grow(std::vector<T, A>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
}
template <class F>
struct ChunkWork {
    avec<F> p, phi, l, ls, u, kron;  // blocks: states at the split, final states, lambdas, U (re, im)
    std::vector<amp_t<F>> row, row2, ucx;
    std::vector<double> a, ang, sn, cs, vals, cot, x, g, pg, dwr, pangles;
    std::vector<cplx> pmats, smats, smats2, work;
    void trim() {
        auto cut = [](auto& v) {
            if (v.capacity() * sizeof(v[0]) > kKeepBytes) std::decay_t<decltype(v)>().swap(v);
        };
        cut(p), cut(phi), cut(l), cut(ls), cut(kron), cut(vals), cut(cot), cut(a), cut(ang), cut(sn), cut(cs);
    }
};
template <class F>
ChunkWork<F>& chunk_work() {
    static thread_local ChunkWork<F> w;
    return w;
}
template <class F>
struct Trim {
    ChunkWork<F>& w;
    ~Trim() { w.trim(); }
};

// The kept final states of the call's precision.
template <class F>
std::vector<F>& kept_phi(SharedSuffixKept& k) {
    if constexpr (std::is_same_v<F, double>) return k.phi_d;
    else return k.phi_f;
}
template <class F>
const std::vector<F>& kept_phi(const SharedSuffixKept& k) {
    if constexpr (std::is_same_v<F, double>) return k.phi_d;
    else return k.phi_f;
}

// The reductions of gate_table.cpp (lanes.cpp's): half angles have period 4 pi, phases 2 pi.
inline double half_angle(double t) {
    return 0.5 * (std::fabs(t) <= 2.0 * M_PI ? t : (std::isfinite(t) ? std::remainder(t, 4.0 * M_PI) : t));
}
inline double phase_angle(double t) {
    return std::fabs(t) <= M_PI ? t : (std::isfinite(t) ? std::remainder(t, 2.0 * M_PI) : t);
}

}  // namespace

void SharedSuffix::bind_prefix(const Batch& b, int64_t r, double* angles) const {
    const double* x = b.inputs ? b.inputs + r * prefix_circuit_.n_inputs() : nullptr;
    try {
        prefix_circuit_.bind(b.weights, x, angles);
    } catch (const std::exception& e) {
        throw InvalidInput("row " + std::to_string(r) + ": " + e.what());
    }
}

template <class F>
void SharedSuffix::bind_suffix(const Batch& b, bool with_derivs, std::vector<cplx>& smats, F* ur, F* ui) const {
    const size_t d = size_t(1) << n_;
    ChunkWork<F>& w = chunk_work<F>();
    std::vector<double>& sangles = w.pangles;
    sangles.resize(size_t(doubled_.circuit().n_angles()));
    doubled_.circuit().bind(b.weights, nullptr, sangles.data());
    smats.resize(doubled_.matrix_buffer_size());
    doubled_.bind_matrices(sangles.data(), smats.data(), with_derivs);
    amp_t<F>* u = grow(w.ucx, d * d);
    suffix_unitary<F>(smats.data(), u);
    for (size_t i = 0; i < d * d; ++i) {
        ur[i] = u[i].real();
        ui[i] = u[i].imag();
    }
}

template <class F>
void SharedSuffix::prefix_chunk(const Batch& b, int64_t r0, int64_t count, size_t cr, const cplx* shared_pmats, F* pr,
                                F* pi) const {
    const size_t d = size_t(1) << n_;
    ChunkWork<F>& w = chunk_work<F>();
    const int nx = prefix_circuit_.n_inputs();
    if (!product_) {
        // Each row's prefix from |0> (its own matrices), scattered into the block; spare rows are zero.
        std::fill(pr, pr + d * cr, F(0));
        std::fill(pi, pi + d * cr, F(0));
        double* pangles = grow(w.ang, size_t(prefix_circuit_.n_angles()));
        cplx* pmats = grow(w.pmats, prefix_.matrix_buffer_size());
        amp_t<F>* psi = grow(w.row, d);
        for (int64_t r = 0; r < count; ++r) {
            bind_prefix(b, r0 + r, pangles);
            prefix_.bind_matrices(pangles, pmats, false);
            prefix_.template forward<F>(psi, pmats, false);
            for (size_t i = 0; i < d; ++i) {
                pr[i * cr + size_t(r)] = psi[i].real();
                pi[i * cr + size_t(r)] = psi[i].imag();
            }
        }
        return;
    }
    // Every wire's 2-vector for every row of the chunk, op by op; spare rows repeat the chunk's last row.
    double* a = grow(w.a, 4 * size_t(n_) * cr);
    for (int q = 0; q < n_; ++q) {
        double* v = a + 4 * size_t(q) * cr;
        std::fill(v, v + cr, 1.0);
        std::fill(v + cr, v + 4 * cr, 0.0);
    }
    double* th = grow(w.sn, 3 * cr);
    double* sn = th + cr;
    double* cs = th + 2 * cr;
    // Ops bound per row: every row's prefix matrices once (pm entries a row).
    const size_t pm = prefix_.matrix_buffer_size();
    cplx* rowmats = per_row_binds_ ? grow(w.pmats, size_t(count) * pm) : nullptr;
    if (per_row_binds_) {
        double* pangles = grow(w.pangles, size_t(prefix_circuit_.n_angles()) + 1);
        for (int64_t r = 0; r < count; ++r) {
            bind_prefix(b, r0 + r, pangles);
            prefix_.bind_matrices(pangles, rowmats + size_t(r) * pm, false);
        }
    }
    const auto& ops = prefix_circuit_.ops();
    for (size_t i = 0; i < split_; ++i) {
        const OpKernel& k = prefix_.kernel(i);
        double* v = a + 4 * size_t(ops[i].wires[0]) * cr;
        const PrefixBind& pb = binds_[i];
        if (pb.kind == PrefixBind::Shared) {
            if (k.kind == OpKernel::Diagonal) wire_diagonal(cr, shared_pmats + k.mat_offset, v);
            else wire_dense(cr, shared_pmats + k.mat_offset, v);
            continue;
        }
        if (pb.kind == PrefixBind::PerRow) {
            for (int64_t r = 0; r < count; ++r) {
                const cplx* m = rowmats + size_t(r) * pm + k.mat_offset;
                const cplx x0(v[size_t(r)], v[cr + size_t(r)]), x1(v[2 * cr + size_t(r)], v[3 * cr + size_t(r)]);
                const cplx y0 = k.kind == OpKernel::Diagonal ? m[0] * x0 : m[0] * x0 + m[1] * x1;
                const cplx y1 = k.kind == OpKernel::Diagonal ? m[1] * x1 : m[2] * x0 + m[3] * x1;
                v[size_t(r)] = y0.real();
                v[cr + size_t(r)] = y0.imag();
                v[2 * cr + size_t(r)] = y1.real();
                v[3 * cr + size_t(r)] = y1.imag();
            }
            continue;
        }
        // One input per row: the angle, its reduction, then sines and cosines of the whole chunk at once.
        const ParamRef& ref = pb.ref;
        const double* x = b.inputs + r0 * nx + ref.index;
        bool finite = true;
        for (int64_t r = 0; r < count; ++r) {
            const double t = ref.offset + ref.scale * x[r * nx];
            th[r] = t;
            finite &= (t - t) == 0.0;
        }
        if (!finite) {
            for (int64_t r = 0; r < count; ++r) bind_prefix(b, r0 + r, grow(w.pangles, size_t(prefix_circuit_.n_angles())));
        }
        for (size_t r = size_t(count); r < cr; ++r) th[r] = th[count - 1];
        if (pb.kind == PrefixBind::Phase)
            for (size_t r = 0; r < cr; ++r) th[r] = phase_angle(th[r]);
        else
            for (size_t r = 0; r < cr; ++r) th[r] = half_angle(th[r]);
        lane_sincos(th, cr, sn, cs);
        wire_rotation(static_cast<int>(pb.kind) - static_cast<int>(PrefixBind::RX), cr, sn, cs, v);
    }
    // The Kronecker product, wire 0 the most significant bit, between the block and a scratch block (the
    // first of n - 1 steps reads the one that leaves the last step's result in the block).
    const size_t d2 = d * cr;
    F* tmp = grow(w.kron, 2 * d2);
    F* src = (n_ - 1) % 2 ? tmp : pr;  // pr, pi: the block's re and im halves (pi = pr + d * cr)
    F* dst = src == pr ? tmp : pr;
    const double* a0 = a;
    for (size_t r = 0; r < cr; ++r) {
        src[r] = F(a0[r]);
        src[d2 + r] = F(a0[cr + r]);
        src[cr + r] = F(a0[2 * cr + r]);
        src[d2 + cr + r] = F(a0[3 * cr + r]);
    }
    size_t len = 2;
    for (int q = 1; q < n_; ++q, len *= 2) {
        kron_step<F>(len, cr, a + 4 * size_t(q) * cr, src, src + d2, dst, dst + d2);
        std::swap(src, dst);
    }
    if (size_t(count) < cr)  // spare rows: zero states (zero final states, no lambda)
        for (size_t i = 0; i < d; ++i) {
            std::fill(pr + i * cr + size_t(count), pr + (i + 1) * cr, F(0));
            std::fill(pi + i * cr + size_t(count), pi + (i + 1) * cr, F(0));
        }
}

template <class F>
void SharedSuffix::chunk_observables(const F* fr, const F* fi, int64_t r0, int64_t count, size_t cr, double* out,
                                     const double* cot, F* lr, F* li) const {
    const size_t d = size_t(1) << n_;
    const size_t no = obs_.size();
    ChunkWork<F>& w = chunk_work<F>();
    if (!diag_.empty()) {
        double* vals = out ? grow(w.vals, no * cr) : nullptr;
        double* ct = nullptr;
        if (cot) {
            ct = grow(w.cot, no * cr);
            std::fill(ct, ct + no * cr, 0.0);
            for (int64_t r = 0; r < count; ++r)
                for (size_t k = 0; k < no; ++k) ct[k * cr + size_t(r)] = cot[size_t(r0 + r) * no + k];
        }
        diagonal_pass<F>(int(d), int(no), cr, diag_.data(), fr, fi, vals, ct, lr, li);
        if (out)
            for (int64_t r = 0; r < count; ++r)
                for (size_t k = 0; k < no; ++k) out[size_t(r0 + r) * no + k] = vals[k * cr + size_t(r)];
        return;
    }
    // Pauli words off the diagonal: row by row through the state kernels.
    amp_t<F>* ph = grow(w.row, d);
    amp_t<F>* l = grow(w.row2, d);
    if (cot) {
        std::fill(lr, lr + d * cr, F(0));
        std::fill(li, li + d * cr, F(0));
    }
    for (int64_t r = 0; r < count; ++r) {
        for (size_t i = 0; i < d; ++i) ph[i] = amp_t<F>(fr[i * cr + size_t(r)], fi[i * cr + size_t(r)]);
        if (out)
            for (size_t k = 0; k < no; ++k) out[size_t(r0 + r) * no + k] = sv::expval<F>(ph, n_, obs_[k], false);
        if (!cot) continue;
        std::fill(l, l + d, amp_t<F>(0));
        const double* c = cot + size_t(r0 + r) * no;
        for (size_t k = 0; k < no; ++k)
            if (c[k] != 0.0) accumulate_observable<F>(ph, n_, obs_[k], l, false, c[k]);
        for (size_t i = 0; i < d; ++i) {
            lr[i * cr + size_t(r)] = l[i].real();
            li[i * cr + size_t(r)] = -l[i].imag();
        }
    }
}

template <class F>
void SharedSuffix::suffix_sweep(const cplx* smats, const double* xr, const double* xi, double* dw) const {
    // The sweep over the suffix with phi = vec(X), lambda = vec(I) on the 2n-wire register.
    const size_t d = size_t(1) << n_;
    ChunkWork<F>& w = chunk_work<F>();
    const Circuit& sc = doubled_.circuit();
    double* g = grow(w.g, size_t(sc.n_angles()));
    std::fill(g, g + sc.n_angles(), 0.0);
    amp_t<F>* x = grow(w.ucx, 2 * d * d);
    amp_t<F>* q = x + d * d;
    for (size_t i = 0; i < d * d; ++i) x[i] = amp_t<F>(F(xr[i]), F(xi[i]));
    std::fill(q, q + d * d, amp_t<F>(0));
    for (size_t i = 0; i < d; ++i) q[i * d + i] = 1;
    const size_t stop = doubled_.first_trainable_op();
    for (size_t op = doubled_.n_ops(); op-- > stop;)
        doubled_.template adjoint_step<F>(op, smats, x, q, g + sc.angle_offset(op), true, op > stop, false);
    if (dw) {
        std::fill(dw, dw + sc.n_weights(), 0.0);
        sc.chain(g, dw, nullptr);
    }
}
template <class F>
void SharedSuffix::product_prefix_gradient(const cplx* pmats, const amp_t<F>* lc, double* g, cplx* work) const {
    // psi = (x)_w a_w with a_w = g_wm ... g_w1 |0>; lc = conj(lambda at the split). The derivative of g_wk is
    // 2 Re sum_b m_w[b] (B dg_wk v_{k-1})[b] with v_{k-1} = g_w(k-1) ... g_w1 |0>, B = g_wm ... g_w(k+1) and
    // m_w[b] = sum_{i: bit_w(i) = b} lc[i] prod_{v != w} a_v[bit_v(i)]; the row vector mu = m_w B is carried
    // from the last op of the wire back to the first.
    using C = std::complex<double>;
    const size_t size = size_t(1) << n_;
    auto entry = [](const OpKernel& k, const cplx* m, int r, int c) -> C {
        if (k.kind == OpKernel::Diagonal) return r == c ? m[r] : C(0.0);
        return m[2 * r + c];
    };
    // Scratch from the caller (arrays of std::complex here would be zeroed on every call).
    C* a = work;                 // 2 n: the factors
    C* vs = a + 2 * kSharedSuffixMaxWires;  // 2 x 64: the wire's vectors before each of its ops
    C* rbuf = vs + 2 * 64;       // 2^n: R_(n-1) = [1] at 0, then R_w at offset 2^(n-1-w) - 1
    C* L = rbuf + (size_t(1) << kSharedSuffixMaxWires);  // 2^n
    C* mws = L + (size_t(1) << kSharedSuffixMaxWires);   // 2 n: the reduced vectors
    for (int w = 0; w < n_; ++w) {
        C v0 = 1.0, v1 = 0.0;
        for (int op : wire_ops_[size_t(w)]) {
            const OpKernel& k = prefix_.kernel(size_t(op));
            const cplx* m = pmats + k.mat_offset;
            const C t0 = entry(k, m, 0, 0) * v0 + entry(k, m, 0, 1) * v1, t1 = entry(k, m, 1, 0) * v0 + entry(k, m, 1, 1) * v1;
            v0 = t0;
            v1 = t1;
        }
        a[2 * w] = v0;
        a[2 * w + 1] = v1;
    }
    // The reduced vectors, wire by wire from the most significant: L holds lc contracted with a_0 .. a_(w-1)
    // (2^(n-w) entries, wire w's bit the highest), R_w = a_(w+1) (x) ... (x) a_(n-1) (the wires below w).
    rbuf[0] = 1.0;
    for (int w = n_ - 2; w >= 0; --w) {
        const size_t len = size_t(1) << (n_ - 2 - w);  // size of R_(w+1)
        const C* src = rbuf + (len - 1);
        C* dst = rbuf + (2 * len - 1);
        for (size_t j = 0; j < len; ++j) {
            dst[j] = a[2 * (w + 1)] * src[j];
            dst[len + j] = a[2 * (w + 1) + 1] * src[j];
        }
    }
    for (size_t i = 0; i < size; ++i) L[i] = C(lc[i]);
    for (int w = 0; w < n_; ++w) {
        const size_t half = size_t(1) << (n_ - 1 - w);
        const C* R = rbuf + (half - 1);
        C m0 = 0.0, m1 = 0.0;
        for (size_t j = 0; j < half; ++j) {
            m0 += L[j] * R[j];
            m1 += L[half + j] * R[j];
        }
        mws[2 * w] = m0;
        mws[2 * w + 1] = m1;
        for (size_t j = 0; j < half; ++j) L[j] = a[2 * w] * L[j] + a[2 * w + 1] * L[half + j];
    }
    const cplx* dbase = pmats + prefix_.derivative_offset();
    for (int w = 0; w < n_; ++w) {
        const auto& wops = wire_ops_[size_t(w)];
        bool any = false;
        for (int op : wops) any |= prefix_.kernel(size_t(op)).trainable_mask != 0;
        if (!any) continue;
        C mu[2] = {mws[2 * w], mws[2 * w + 1]};
        C v0 = 1.0, v1 = 0.0;
        for (size_t j = 0; j < wops.size(); ++j) {
            const OpKernel& k = prefix_.kernel(size_t(wops[j]));
            const cplx* m = pmats + k.mat_offset;
            vs[2 * j] = v0;
            vs[2 * j + 1] = v1;
            const C t0 = entry(k, m, 0, 0) * v0 + entry(k, m, 0, 1) * v1, t1 = entry(k, m, 1, 0) * v0 + entry(k, m, 1, 1) * v1;
            v0 = t0;
            v1 = t1;
        }
        for (size_t j = wops.size(); j-- > 0;) {
            const size_t op = size_t(wops[j]);
            const OpKernel& k = prefix_.kernel(op);
            const cplx* m = pmats + k.mat_offset;
            if (k.trainable_mask) {
                const int np = static_cast<int>(prefix_circuit_.ops()[op].params.size());
                for (int p = 0; p < np; ++p) {
                    if (!(k.trainable_mask & (1u << p))) continue;
                    const cplx* dm = dbase + k.dmat_offset + size_t(p) * k.mat_size;
                    const C x0 = vs[2 * j], x1 = vs[2 * j + 1];
                    const C y0 = entry(k, dm, 0, 0) * x0 + entry(k, dm, 0, 1) * x1;
                    const C y1 = entry(k, dm, 1, 0) * x0 + entry(k, dm, 1, 1) * x1;
                    g[prefix_circuit_.angle_offset(op) + p] = 2.0 * (mu[0] * y0 + mu[1] * y1).real();
                }
            }
            const C n0 = mu[0] * entry(k, m, 0, 0) + mu[1] * entry(k, m, 1, 0);
            const C n1 = mu[0] * entry(k, m, 0, 1) + mu[1] * entry(k, m, 1, 1);
            mu[0] = n0;
            mu[1] = n1;
        }
    }
}

template <class F>
void SharedSuffix::expval(const Batch& b, double* out, SharedSuffixKept* keep) const {
    const size_t d = size_t(1) << n_;
    const int64_t rows = b.rows;
    const size_t cr = chunk_rows(rows, n_);
    const size_t nchunks = (size_t(rows) + cr - 1) / cr;
    const size_t block = 2 * d * cr;
    check_memory(double(keep ? nchunks + 1 : 2) * double(block) * sizeof(F),
                 "shared suffix: states of " + std::to_string(rows) + " rows at the split and at the end");
    ChunkWork<F>& w = chunk_work<F>();
    Trim<F> trim{w};
    F* ur = grow(w.u, 2 * d * d);
    F* ui = ur + d * d;
    std::vector<cplx>& smats = keep ? keep->smats : w.smats;
    bind_suffix<F>(b, keep != nullptr, smats, ur, ui);
    const cplx* shared_pmats = nullptr;
    if (product_ && !binds_.empty()) {
        double* pangles = grow(w.ang, size_t(prefix_circuit_.n_angles()) + 1);
        bind_prefix(b, 0, pangles);
        prefix_.bind_matrices(pangles, grow(w.smats2, prefix_.matrix_buffer_size()), false);
        shared_pmats = w.smats2.data();
    }
    F* p = grow(w.p, block);
    F* phi = nullptr;
    if (keep) {
        std::vector<F>& kp = kept_phi<F>(*keep);
        kp.resize(nchunks * block);  // every entry (spare rows too) is written below
        phi = kp.data();
    } else {
        phi = grow(w.phi, block);
    }
    for (size_t c = 0; c < nchunks; ++c) {
        const int64_t r0 = int64_t(c * cr), count = std::min<int64_t>(int64_t(cr), rows - r0);
        F* fr = keep ? phi + c * block : phi;
        prefix_chunk<F>(b, r0, count, cr, shared_pmats, p, p + d * cr);
        apply_matrix_any<F>(int(d), cr, ur, ui, p, p + d * cr, fr, fr + d * cr);
        chunk_observables<F>(fr, fr + d * cr, r0, count, cr, out, nullptr, nullptr, nullptr);
    }
    if (keep) {
        keep->rows = rows;
        keep->chunk = int64_t(cr);
        keep->values.assign(out, out + size_t(rows) * obs_.size());
    }
}

template <class F>
void SharedSuffix::vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const {
    const size_t d = size_t(1) << n_;
    const int64_t rows = b.rows;
    const size_t cr = chunk_rows(rows, n_);
    const size_t nchunks = (size_t(rows) + cr - 1) / cr;
    const size_t block = 2 * d * cr;
    const bool pgrads = prefix_gradients(dx != nullptr, dw != nullptr);
    check_memory(4.0 * double(block) * sizeof(F), "shared suffix: states of a chunk of " + std::to_string(cr) +
                                                       " rows at the split, at the end and their lambdas");
    ChunkWork<F>& w = chunk_work<F>();
    Trim<F> trim{w};
    F* ur = grow(w.u, 4 * d * d);
    F* ui = ur + d * d;
    F* utr = ui + d * d;  // U^T, for the lambdas at the split
    F* uti = utr + d * d;
    bind_suffix<F>(b, true, w.smats, ur, ui);
    for (size_t i = 0; i < d; ++i)
        for (size_t j = 0; j < d; ++j) {
            utr[j * d + i] = ur[i * d + j];
            uti[j * d + i] = ui[i * d + j];
        }
    const cplx* shared_pmats = nullptr;
    if (product_ && !binds_.empty()) {
        double* pangles = grow(w.ang, size_t(prefix_circuit_.n_angles()) + 1);
        bind_prefix(b, 0, pangles);
        prefix_.bind_matrices(pangles, grow(w.smats2, prefix_.matrix_buffer_size()), false);
        shared_pmats = w.smats2.data();
    }
    F* p = grow(w.p, block);
    F* phi = grow(w.phi, block);
    F* l = grow(w.l, block);
    F* ls = pgrads ? grow(w.ls, block) : nullptr;
    double* xr = grow(w.x, 2 * d * d);
    double* xi = xr + d * d;
    std::fill(xr, xr + 2 * d * d, 0.0);
    const int nw = prefix_circuit_.n_weights(), nx = prefix_circuit_.n_inputs();
    double* pdw = grow(w.dwr, 2 * size_t(nw) + 1);  // the prefix's weight terms, summed in row order
    double* dwr = pdw + nw;
    std::fill(pdw, pdw + nw, 0.0);
    if (dx) std::fill(dx, dx + size_t(rows) * nx, 0.0);
    for (size_t c = 0; c < nchunks; ++c) {
        const int64_t r0 = int64_t(c * cr), count = std::min<int64_t>(int64_t(cr), rows - r0);
        prefix_chunk<F>(b, r0, count, cr, shared_pmats, p, p + d * cr);
        apply_matrix_any<F>(int(d), cr, ur, ui, p, p + d * cr, phi, phi + d * cr);
        chunk_observables<F>(phi, phi + d * cr, r0, count, cr, vals, cot, l, l + d * cr);
        // X = sum_r |phi_r><lambda_r|: x[i][j] = sum_r phi_r[i] conj(lambda_r[j]).
        outer_accumulate<F>(int(d), cr, phi, phi + d * cr, l, l + d * cr, xr, xi);
        if (!pgrads) continue;
        // The rows' conj(lambda) at the split, U^T conj(lambda_r), then each row's prefix sweep.
        apply_matrix_any<F>(int(d), cr, utr, uti, l, l + d * cr, ls, ls + d * cr);
        double* pangles = grow(w.ang, size_t(prefix_circuit_.n_angles()) + 1);
        cplx* pmats = grow(w.pmats, prefix_.matrix_buffer_size());
        double* pg = grow(w.pg, size_t(prefix_circuit_.n_angles()) + 1);
        amp_t<F>* lrow = grow(w.row2, d);
        amp_t<F>* prow = grow(w.row, d);
        cplx* work = grow(w.work, kPrefixWork);
        const size_t stop = prefix_.first_trainable_op();
        for (int64_t r = 0; r < count; ++r) {
            bind_prefix(b, r0 + r, pangles);
            prefix_.bind_matrices(pangles, pmats, true);
            std::fill(pg, pg + prefix_circuit_.n_angles(), 0.0);
            if (product_) {
                for (size_t i = 0; i < d; ++i) lrow[i] = amp_t<F>(ls[i * cr + size_t(r)], ls[(d + i) * cr + size_t(r)]);
                product_prefix_gradient<F>(pmats, lrow, pg, work);
            } else {
                for (size_t i = 0; i < d; ++i) {
                    lrow[i] = amp_t<F>(ls[i * cr + size_t(r)], -ls[(d + i) * cr + size_t(r)]);
                    prow[i] = amp_t<F>(p[i * cr + size_t(r)], p[(d + i) * cr + size_t(r)]);
                }
                for (size_t op = split_; op-- > stop;)
                    prefix_.template adjoint_step<F>(op, pmats, prow, lrow, pg + prefix_circuit_.angle_offset(op), true,
                                                     op > stop, false);
            }
            const bool wts = prefix_reads_weights_ && dw;
            if (wts) std::fill(dwr, dwr + nw, 0.0);
            prefix_circuit_.chain(pg, wts ? dwr : nullptr, dx ? dx + size_t(r0 + r) * nx : nullptr);
            if (wts)
                for (int k = 0; k < nw; ++k) pdw[k] += dwr[k];
        }
    }
    suffix_sweep<F>(w.smats.data(), xr, xi, dw);
    if (dw && prefix_reads_weights_ && pgrads)
        for (int k = 0; k < nw; ++k) dw[k] += pdw[k];
}

template <class F>
void SharedSuffix::vjp_kept(const SharedSuffixKept& kept, const double* cot, double* vals, double* dw) const {
    const size_t d = size_t(1) << n_;
    const int64_t rows = kept.rows;
    const size_t cr = size_t(kept.chunk);
    const size_t nchunks = (size_t(rows) + cr - 1) / cr;
    const size_t block = 2 * d * cr;
    ChunkWork<F>& w = chunk_work<F>();
    Trim<F> trim{w};
    const F* phi = kept_phi<F>(kept).data();
    std::copy(kept.values.begin(), kept.values.end(), vals);
    F* l = grow(w.l, block);
    double* xr = grow(w.x, 2 * d * d);
    double* xi = xr + d * d;
    std::fill(xr, xr + 2 * d * d, 0.0);
    for (size_t c = 0; c < nchunks; ++c) {
        const int64_t r0 = int64_t(c * cr), count = std::min<int64_t>(int64_t(cr), rows - r0);
        const F* fr = phi + c * block;
        chunk_observables<F>(fr, fr + d * cr, r0, count, cr, nullptr, cot, l, l + d * cr);
        outer_accumulate<F>(int(d), cr, fr, fr + d * cr, l, l + d * cr, xr, xi);
    }
    suffix_sweep<F>(kept.smats.data(), xr, xi, dw);
}
template void SharedSuffix::expval<double>(const Batch&, double*, SharedSuffixKept*) const;
template void SharedSuffix::expval<float>(const Batch&, double*, SharedSuffixKept*) const;
template void SharedSuffix::vjp_kept<double>(const SharedSuffixKept&, const double*, double*, double*) const;
template void SharedSuffix::vjp_kept<float>(const SharedSuffixKept&, const double*, double*, double*) const;
template void SharedSuffix::vjp<double>(const Batch&, const double*, double*, double*, double*) const;
template void SharedSuffix::vjp<float>(const Batch&, const double*, double*, double*, double*) const;

}  // namespace pyqml::sv
