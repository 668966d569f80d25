#include "pyqml/statevector/shared_suffix.hpp"

// The shared-suffix path of the state-vector method (the derivation is in shared_suffix.hpp).
#include <algorithm>
#include <atomic>
#include <limits>
#include <string>

#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/statevector/measure.hpp"
#include "pyqml/tensornet/blas.hpp"

namespace pyqml::sv {

namespace {

std::atomic<bool> g_shared_suffix{true}, g_shared_suffix_forced{false};

constexpr int64_t kCmul = 6, kCadd = 2;
// product_prefix_gradient's scratch: factors, a wire's vectors (at most 64 ops), R, L, reduced vectors.
constexpr size_t kPrefixWork = 4 * kSharedSuffixMaxWires + 128 + 2 * (size_t(1) << kSharedSuffixMaxWires);
// A GEMM of these sizes (16..128 x 16..128 x rows) runs more flops per second than the gate kernels on small
// states (measured here: about twice as many); the cost model counts its flops at 1/2.
constexpr double kGemmWeight = 1.0 / 2.0;

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

// C = op(A) op(B) through the BLAS wrapper (row-major, transposes only), on one BLAS thread (blas.hpp).
template <class F>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const amp_t<F>* a, const amp_t<F>* b, amp_t<F>* c) {
    tn::set_blas_threads(1);
    tn::gemm<std::complex<F>>(ta, tb, m, n, k, a, b, c, false);
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

int64_t SharedSuffix::vjp_flops(int64_t rows, bool with_dx) const {
    const int64_t d = int64_t(1) << n_;
    int64_t f = values_flops(rows) + rows * (observable_flops(true) + 8 * d * d) + adjoint_sweep_flops(doubled_, 1);
    if ((with_dx || prefix_reads_weights_) && prefix_.first_trainable_op() < split_)
        f += rows * (8 * d * d + prefix_gradient_flops());
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
    if (vjp && (with_dx || prefix_reads_weights_) && prefix_.first_trainable_op() < split_)
        return std::numeric_limits<double>::infinity();
    const int64_t d = int64_t(1) << n_;
    const int64_t gemms = vjp ? (2 + ((with_dx || prefix_reads_weights_) ? 1 : 0)) : 1;
    const double gemm_flops = double(rows) * double(gemms) * 8.0 * double(d * d);
    const double total = double(vjp ? vjp_flops(rows, with_dx) : values_flops(rows));
    return total - gemm_flops * (1.0 - kGemmWeight);
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

template <class F>
void SharedSuffix::prefix_state(const cplx* pmats, amp_t<F>* psi) const {
    const size_t size = size_t(1) << n_;
    if (!product_) {
        prefix_.template forward<F>(psi, pmats, false);
        return;
    }
    // Each wire's 2-vector: its ops in order applied to |0>.
    std::vector<std::complex<double>> a(2 * size_t(n_));
    for (int w = 0; w < n_; ++w) {
        a[2 * w] = 1.0;
        a[2 * w + 1] = 0.0;
    }
    const auto& ops = prefix_circuit_.ops();
    for (size_t i = 0; i < split_; ++i) {
        const OpKernel& k = prefix_.kernel(i);
        const cplx* m = pmats + k.mat_offset;
        std::complex<double>* v = a.data() + 2 * ops[i].wires[0];
        if (k.kind == OpKernel::Diagonal) {
            v[0] *= m[0];
            v[1] *= m[1];
        } else {
            const std::complex<double> v0 = m[0] * v[0] + m[1] * v[1], v1 = m[2] * v[0] + m[3] * v[1];
            v[0] = v0;
            v[1] = v1;
        }
    }
    // Wire 0 is the most significant bit: psi = a_0 (x) a_1 (x) ... (x) a_{n-1}, built from the left.
    std::vector<std::complex<double>> t(size);
    t[0] = a[0];
    t[1] = a[1];
    size_t len = 2;
    for (int w = 1; w < n_; ++w) {
        const std::complex<double> lo = a[2 * w], hi = a[2 * w + 1];
        for (size_t j = len; j-- > 0;) {
            t[2 * j + 1] = t[j] * hi;
            t[2 * j] = t[j] * lo;
        }
        len *= 2;
    }
    for (size_t i = 0; i < size; ++i) psi[i] = amp_t<F>(t[i]);
}

void SharedSuffix::bind_prefix(const Batch& b, int64_t r, double* angles) const {
    const double* x = b.inputs ? b.inputs + r * prefix_circuit_.n_inputs() : nullptr;
    try {
        prefix_circuit_.bind(b.weights, x, angles);
    } catch (const std::exception& e) {
        throw InvalidInput("row " + std::to_string(r) + ": " + e.what());
    }
}

template <class F>
void SharedSuffix::final_states(const Batch& b, bool with_derivs, std::vector<amp_t<F>>& u,
                                std::vector<amp_t<F>>& psi, std::vector<amp_t<F>>& phi, std::vector<cplx>& smats,
                                std::vector<cplx>* pmats_rows) const {
    const size_t d = size_t(1) << n_;
    const int64_t rows = b.rows;
    // The suffix's matrices (shared: bound once) and U.
    std::vector<double> sangles(size_t(doubled_.circuit().n_angles()));
    doubled_.circuit().bind(b.weights, nullptr, sangles.data());
    smats.resize(doubled_.matrix_buffer_size());
    doubled_.bind_matrices(sangles.data(), smats.data(), with_derivs);
    u.resize(d * d);
    suffix_unitary<F>(smats.data(), u.data());
    // Each row's state at the split (pmats_rows: keep each row's prefix matrices and derivatives).
    psi.resize(size_t(rows) * d);
    std::vector<double> pangles(size_t(prefix_circuit_.n_angles()));
    const size_t pm = prefix_.matrix_buffer_size();
    std::vector<cplx> one(pmats_rows ? 0 : pm);
    if (pmats_rows) pmats_rows->resize(size_t(rows) * pm);
    for (int64_t r = 0; r < rows; ++r) {
        cplx* pmats = pmats_rows ? pmats_rows->data() + size_t(r) * pm : one.data();
        bind_prefix(b, r, pangles.data());
        prefix_.bind_matrices(pangles.data(), pmats, pmats_rows != nullptr);
        prefix_state<F>(pmats, psi.data() + size_t(r) * d);
    }
    // Phi = Psi U^T: row r of Phi is U psi_r.
    phi.resize(size_t(rows) * d);
    if (rows > 0) gemm<F>(false, true, rows, int64_t(d), int64_t(d), psi.data(), u.data(), phi.data());
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
void SharedSuffix::values_of(const amp_t<F>* phi, double* out) const {
    const size_t size = size_t(1) << n_;
    const size_t no = obs_.size();
    if (diag_.empty()) {
        for (size_t k = 0; k < no; ++k) out[k] = sv::expval<F>(phi, n_, obs_[k], false);
        return;
    }
    double p[1 << kSharedSuffixMaxWires];
    for (size_t i = 0; i < size; ++i)
        p[i] = double(phi[i].real()) * phi[i].real() + double(phi[i].imag()) * phi[i].imag();
    for (size_t k = 0; k < no; ++k) {
        const double* dk = diag_.data() + k * size;
        double s = 0.0;
        for (size_t i = 0; i < size; ++i) s += dk[i] * p[i];
        out[k] = s;
    }
}

// ---------------------------------------------------------------------------------------------------
// The calls
// ---------------------------------------------------------------------------------------------------

template <class F>
void SharedSuffix::expval(const Batch& b, double* out) const {
    const size_t d = size_t(1) << n_;
    check_memory(2.0 * double(b.rows) * double(d) * sizeof(amp_t<F>),
                 "shared suffix: states of " + std::to_string(b.rows) + " rows at the split and at the end");
    std::vector<amp_t<F>> u, psi, phi;
    std::vector<cplx> smats;
    final_states<F>(b, false, u, psi, phi, smats, nullptr);
    const size_t no = obs_.size();
    for (int64_t r = 0; r < b.rows; ++r) values_of<F>(phi.data() + size_t(r) * d, out + size_t(r) * no);
}

template <class F>
void SharedSuffix::vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const {
    const size_t d = size_t(1) << n_;
    const int64_t rows = b.rows;
    const size_t no = obs_.size();
    const bool prefix_grads = (dx || (prefix_reads_weights_ && dw)) && prefix_.first_trainable_op() < split_;
    check_memory((3.0 + (prefix_grads ? 1.0 : 0.0)) * double(rows) * double(d) * sizeof(amp_t<F>) +
                     2.0 * double(d * d) * sizeof(amp_t<F>) +
                     (prefix_grads ? double(rows) * double(prefix_.matrix_buffer_size()) * sizeof(cplx) : 0.0),
                 "shared suffix: states of " + std::to_string(rows) + " rows and two 2^" + std::to_string(2 * n_) +
                     "-amplitude matrices");
    std::vector<amp_t<F>> u, psi, phi;
    std::vector<cplx> smats, pmats_rows;
    final_states<F>(b, true, u, psi, phi, smats, prefix_grads ? &pmats_rows : nullptr);

    // Values, and conj(lambda_r) = conj(sum_k cot_rk O_k phi_r) as the rows of Lc.
    std::vector<amp_t<F>> lc(size_t(rows) * d);
    for (int64_t r = 0; r < rows; ++r) {
        const amp_t<F>* ph = phi.data() + size_t(r) * d;
        amp_t<F>* l = lc.data() + size_t(r) * d;
        const double* c = cot + size_t(r) * no;
        values_of<F>(ph, vals + size_t(r) * no);
        if (!diag_.empty()) {
            for (size_t i = 0; i < d; ++i) {
                double wgt = 0.0;
                for (size_t k = 0; k < no; ++k) wgt += c[k] * diag_[k * d + i];
                l[i] = std::conj(ph[i]) * F(wgt);
            }
        } else {
            std::fill(l, l + d, amp_t<F>(0));
            for (size_t k = 0; k < no; ++k)
                if (c[k] != 0.0) accumulate_observable<F>(ph, n_, obs_[k], l, false, c[k]);
            for (size_t i = 0; i < d; ++i) l[i] = std::conj(l[i]);
        }
    }

    // X = sum_r |phi_r><lambda_r| = Phi^T Lc, then the sweep over the suffix with phi = vec(X), lambda = vec(I).
    const Circuit& sc = doubled_.circuit();
    std::vector<double> g(size_t(sc.n_angles()), 0.0);
    if (rows > 0) {
        std::vector<amp_t<F>> x(d * d), q(d * d, amp_t<F>(0));
        gemm<F>(true, false, int64_t(d), int64_t(d), rows, phi.data(), lc.data(), x.data());
        for (size_t i = 0; i < d; ++i) q[i * d + i] = 1;
        const size_t stop = doubled_.first_trainable_op();
        for (size_t op = doubled_.n_ops(); op-- > stop;)
            doubled_.template adjoint_step<F>(op, smats.data(), x.data(), q.data(), g.data() + sc.angle_offset(op),
                                              true, op > stop, false);
    }
    if (dw) {
        std::fill(dw, dw + sc.n_weights(), 0.0);
        sc.chain(g.data(), dw, nullptr);
    }
    if (dx) std::fill(dx, dx + size_t(rows) * prefix_circuit_.n_inputs(), 0.0);
    if (!prefix_grads || rows == 0) return;

    // The rows' lambdas at the split: conj(U^dag lambda_r) = U^T conj(lambda_r), the rows of Lc U; then each
    // row's sweep over the prefix. A prefix that reads weights adds its rows' terms to dw in row order.
    std::vector<amp_t<F>> ls(size_t(rows) * d);
    gemm<F>(false, false, rows, int64_t(d), int64_t(d), lc.data(), u.data(), ls.data());
    const int nw = prefix_circuit_.n_weights(), nx = prefix_circuit_.n_inputs();
    std::vector<double> pg(size_t(prefix_circuit_.n_angles())), dwr(static_cast<size_t>(nw));
    std::vector<amp_t<F>> lam(d);
    std::vector<cplx> work(product_ ? kPrefixWork : 0);
    const size_t stop = prefix_.first_trainable_op();
    const size_t pm = prefix_.matrix_buffer_size();
    for (int64_t r = 0; r < rows; ++r) {
        const cplx* pmats = pmats_rows.data() + size_t(r) * pm;
        const amp_t<F>* l = ls.data() + size_t(r) * d;
        std::fill(pg.begin(), pg.end(), 0.0);
        if (product_) {
            product_prefix_gradient<F>(pmats, l, pg.data(), work.data());
        } else {
            amp_t<F>* ph = psi.data() + size_t(r) * d;
            for (size_t i = 0; i < d; ++i) lam[i] = std::conj(l[i]);
            for (size_t op = split_; op-- > stop;)
                prefix_.template adjoint_step<F>(op, pmats, ph, lam.data(), pg.data() + prefix_circuit_.angle_offset(op),
                                                 true, op > stop, false);
        }
        std::fill(dwr.begin(), dwr.end(), 0.0);
        prefix_circuit_.chain(pg.data(), prefix_reads_weights_ && dw ? dwr.data() : nullptr,
                              dx ? dx + size_t(r) * nx : nullptr);
        if (prefix_reads_weights_ && dw)
            for (int k = 0; k < nw; ++k) dw[k] += dwr[size_t(k)];
    }
}

template void SharedSuffix::expval<double>(const Batch&, double*) const;
template void SharedSuffix::expval<float>(const Batch&, double*) const;
template void SharedSuffix::vjp<double>(const Batch&, const double*, double*, double*, double*) const;
template void SharedSuffix::vjp<float>(const Batch&, const double*, double*, double*, double*) const;

}  // namespace pyqml::sv
