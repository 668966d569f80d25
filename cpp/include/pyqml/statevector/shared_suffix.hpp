#pragma once
// Values and VJPs of many rows through a circuit whose last gates are the same for every row.
//
// Split the ops at the last one that reads an input: the prefix P_r (row dependent: the embedding) and the
// suffix U (gates whose parameters are constants or shared weights: the ansatz). With D = 2^n,
//
//     psi_r = P_r |0>            (a Kronecker product of 2-vectors when every prefix op is on one wire)
//     U     = the suffix on the D basis columns at once: the suffix's ops applied to vec(I) on 2n wires
//             (the ops' wires are the high n bits, the column index the low n)
//     Phi   = Psi U^T            one (rows x D) x (D x D) complex GEMM for every row's final state
//
// and the expectation values follow from Phi (diagonal observables: sign-weighted |phi|^2 sums).
//
// VJP with respect to the suffix parameters. With lambda_r = sum_k cot_rk O_k phi_r, the derivative of gate j
// of the suffix (G_j, after it the ops V_j) summed over rows is (Jones & Gacon, arXiv:2009.02823)
//
//     sum_r 2 Re <lambda_r^(j)| dG_j |psi_r^(j-1)>  =  2 Re Tr(dG_j G_j^dag X^(j)),
//     X^(j) = sum_r |psi_r^(j)><lambda_r^(j)| = V_j^dag X V_j,   X = sum_r |phi_r><lambda_r| = Phi^T conj(Lambda),
//
// one D x D matrix instead of two states per row. Writing X^(j) = P^(j) Q^(j)dag with P^(j) = V_j^dag X and
// Q^(j) = V_j^dag I, the trace is sum_c <q_c^(j)| dG_j G_j^dag |p_c^(j)>: the ordinary adjoint sweep on the
// 2n-wire register with phi = vec(X) and lambda = vec(I) (Program::adjoint_step, unchanged). The row
// dimension disappears after one GEMM.
//
// Gradients with respect to inputs (and any weight the prefix reads): the rows' lambdas at the split are
// U^dag lambda_r (one more GEMM, skipped when the caller needs no input gradient and the prefix reads no
// weight), then each row's short prefix sweep.
//
// Layout and kernels (shared_suffix.cpp): rows are processed in chunks of at most a few hundred, each chunk's
// states stored amplitude-major with the rows innermost (amplitude i of chunk row r at re[i * cr + r], im
// likewise; cr the chunk's rows padded to 8), so every per-row step (the product state, Phi = U Psi, the
// values, the lambdas, X += Phi Lc^T) is one vector operation over rows, multi-versioned like the lane
// kernels; the GEMMs are hand-written register-blocked loops (at D = 16 and a few hundred rows a BLAS call
// costs more than the arithmetic). Scratch is thread-local and reused across calls.
//
// Every reduction runs in a fixed order on one thread (X sums the chunks in order), so results do not depend
// on the thread count. The Simulator takes this path for values and VJPs with shared weights
// when the cost model (cost()) says it is cheaper than running the rows (the lane kernels).
#include <cstdint>
#include <memory>
#include <vector>

#include "pyqml/common/batch.hpp"
#include "pyqml/observables/pauli.hpp"
#include "pyqml/statevector/program.hpp"

namespace pyqml::sv {

// Widest register the shared-suffix path takes: the 2n-wire register of U and X has 4^n amplitudes.
inline constexpr int kSharedSuffixMaxWires = 7;

// Process-wide switch (default on); tests compare both paths. forced: take the path whenever it applies,
// whatever the cost model says (tests of small batches).
bool shared_suffix_enabled();
bool shared_suffix_forced();
void set_shared_suffix_enabled(bool on, bool forced = false);

// Real flops of the adjoint sweep of `p` with nl lambdas (flops.cpp's model; the observables' part not included).
int64_t adjoint_sweep_flops(const Program& p, int64_t nl);

// What a values call keeps for the VJP that follows it on the same batch (Simulator::forward): the final
// states of every chunk (re and im, D x cr each, chunk after chunk), the suffix's matrices with their
// derivatives, and the values. Owned buffers; read-only after the forward.
struct SharedSuffixKept {
    int64_t rows = 0, chunk = 0;  // rows, and the padded rows of each chunk's block
    std::vector<double> phi_d;    // complex128 calls
    std::vector<float> phi_f;     // complex64 calls
    std::vector<cplx> smats;
    std::vector<double> values;   // rows x n_obs
};

class SharedSuffix {
public:
    // Null when the circuit has no suffix to share: wider than kSharedSuffixMaxWires, or no op after the last
    // one that reads an input.
    static std::unique_ptr<const SharedSuffix> build(const Circuit& c, const std::vector<std::vector<PauliMasks>>& obs);
    SharedSuffix(const Circuit& c, size_t split, const std::vector<std::vector<PauliMasks>>& obs);

    size_t split() const { return split_; }
    // Whether every prefix op acts on one wire (the state at the split is then built as a product).
    bool product_prefix() const { return product_; }
    // Whether the batch can take this path at all (shared weights, bound from weights and inputs).
    static bool applies(const Batch& b) { return !b.weights_per_row && !b.angles && b.weights; }

    // Real flops of a call on `rows` rows (values; vjp with or without the input gradients), by the model of
    // flops.cpp: U on the 2n-wire register, the prefix per row, each GEMM 8 D^2 flops a row, the observables.
    int64_t values_flops(int64_t rows) const;
    int64_t vjp_flops(int64_t rows, bool with_dx) const;
    // The backward part of a VJP after a kept forward (no prefix gradients): lambdas, X and the sweep.
    int64_t backward_flops(int64_t rows) const;
    // The cost model: flops weighted by how fast each part runs (a GEMM's flops faster than the rest),
    // comparable with the row path's flops. backward: the VJP's backward part after a kept forward.
    double cost(int64_t rows, bool vjp, bool with_dx) const;
    double backward_cost(int64_t rows) const;
    // Whether a VJP computes per-row prefix gradients (input gradients wanted, or weights read by the prefix).
    bool prefix_gradients(bool with_dx, bool with_dw = true) const {
        return (with_dx || (prefix_reads_weights_ && with_dw)) && prefix_.first_trainable_op() < split_;
    }

    // out: rows x n_obs. keep: also keep what the VJP's backward part needs (its values included).
    template <class F>
    void expval(const Batch& b, double* out, SharedSuffixKept* keep = nullptr) const;
    // vals: rows x n_obs; dw: n_weights summed over rows; dx: rows x n_inputs, or null (not computed).
    template <class F>
    void vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const;
    // The VJP's weight gradients (no prefix gradients: prefix_gradients(false, dw) is false) from a kept
    // forward of the same batch; vals from the kept values.
    template <class F>
    void vjp_kept(const SharedSuffixKept& kept, const double* cot, double* vals, double* dw) const;

private:
    // How a product prefix op is bound for a chunk: its matrix the same for every row (no input parameter:
    // bound once per call), a rotation of one input from vectorised sines and cosines, or per row.
    struct PrefixBind {
        enum Kind { Shared, RX, RY, RZ, Phase, PerRow } kind = PerRow;
        ParamRef ref;
    };
    template <class F>
    void suffix_unitary(const cplx* smats, amp_t<F>* u) const;
    // The suffix's matrices (and derivatives) for the call's weights, and U split into re / im (D x D).
    template <class F>
    void bind_suffix(const Batch& b, bool with_derivs, std::vector<cplx>& smats, F* ur, F* ui) const;
    // The states at the split of rows [r0, r0 + count) of the batch, as a chunk block (re, im: D x cr).
    template <class F>
    void prefix_chunk(const Batch& b, int64_t r0, int64_t count, size_t cr, const cplx* shared_pmats, F* pr,
                      F* pi) const;
    // Values of a chunk's final states into out (rows x n_obs) and, with cot, conj(lambda) into lr / li.
    template <class F>
    void chunk_observables(const F* fr, const F* fi, int64_t r0, int64_t count, size_t cr, double* out,
                           const double* cot, F* lr, F* li) const;
    // The sweep over the suffix from X (d x d, re / im in double) into the weight gradients.
    template <class F>
    void suffix_sweep(const cplx* smats, const double* xr, const double* xi, double* dw) const;
    // A product prefix's angle gradients (into g) for one row from its prefix matrices and conj(lambda) at the
    // split: per wire the reduced 2-vector of lambda and the other wires' factors, then the wire's 2x2 sweep.
    template <class F>
    void product_prefix_gradient(const cplx* pmats, const amp_t<F>* lc, double* g, cplx* work) const;
    void bind_prefix(const Batch& b, int64_t r, double* angles) const;
    int64_t observable_flops(bool lambda) const;
    int64_t prefix_flops() const;
    int64_t prefix_gradient_flops() const;

    int n_;
    size_t split_;
    std::vector<PrefixBind> binds_;  // product prefix: per op
    bool per_row_binds_ = false;     // some product-prefix op is bound per row
    bool product_ = true;
    std::vector<std::vector<int>> wire_ops_;  // product prefix: each wire's ops, in order
    bool prefix_reads_weights_ = false;
    Circuit prefix_circuit_;
    Program prefix_;   // ops [0, split) on n wires
    Program doubled_;  // ops [split, end) on 2n wires (the ops' wires are the high bits)
    std::vector<std::vector<PauliMasks>> obs_;
    // Every observable diagonal with real coefficients: its diagonal (n_obs x 2^n); empty otherwise.
    std::vector<double> diag_;
    int64_t n_terms_ = 0;
};

}  // namespace pyqml::sv
