// The arithmetic floor of the state-vector method: real floating-point operations of one row, counted from
// the compiled program (Program's kernels and fused schedule, the Simulator's compiled observables).
//
// Model (one complex multiply = 4 real multiplies + 2 real adds = 6 flops, one complex add = 2 flops,
// n wires, 2^n amplitudes):
//  * dense block on t target bits with c control bits (Dense1, Dense2, Controlled1, Controlled): each of
//    the 2^(n-c-t) groups whose controls are set is a D x D matrix-vector product, D = 2^t, i.e. D rows of
//    D complex multiplies and D-1 complex adds: 2^(n-c-t) * D * (8D - 2) flops. A dense 1-qubit gate:
//    2^(n-1) * (4 complex mul + 2 complex add) = 2^(n-1) * 28 = 14 * 2^n; a controlled 1-qubit gate
//    (CRX, CRot) a quarter of a dense 2-qubit gate's groups: 2^(n-2) * 28 = 7 * 2^n;
//  * diagonal (RZ, PhaseShift, CZ, IsingZZ, MultiRZ, ...): one complex multiply per amplitude, 6 * 2^n;
//  * CNOT, Toffoli (a permutation): 0;
//  * a fused run of m single-wire gates in the forward schedule: m 2x2 complex matrix products (8 complex
//    mul + 4 complex add = 56 flops each, starting from the identity as the kernels do) and one dense
//    1-qubit application;
//  * <psi| P |psi> for one Pauli term: per amplitude one conjugate product and its accumulation,
//    8 * 2^n; the term's constant phase is not counted;
//  * lambda += scale * P psi for one Pauli term (the adjoint sweep's start): 8 * 2^n;
//  * registers on SIMD lanes (lanes.cpp; what batches of kLaneMinRows rows and more run) take a diagonal
//    observable (Z words, real coefficients) as one real coefficient per amplitude: when every observable
//    is diagonal, one pass computes |psi_j|^2 (3 flops per amplitude) and per observable the value's
//    multiply-add (2) and lambda = d psi (2; a VJP's single lambda: per observable the cotangent-weighted
//    coefficient's multiply-add, 2, and the product once, 2); a diagonal observable among other ones is a
//    pass of its own: 5 per amplitude for the value, 4 for lambda += d psi. Permutations (CNOT, Toffoli,
//    SWAP, ...) are relabellings there, 0 (CNOT and Toffoli are 0 on the per-row kernels too). The
//    single-wire gates before the first multi-wire gate (the product-state prefix) are no state passes:
//    per gate its wire's 2-vector (28 flops dense, 12 diagonal, 0 for a wire's first gate: its matrix's
//    first column), the Kronecker product 6 * (2^(n+1) - 2); the sweep stops at the prefix: per row each
//    trainable prefix parameter's forward tangent (dg/dp on the gate's input vector: 28, diagonal 12, none
//    against |0>; then each later prefix gate on the wire, 28 or 12), and per lambda the contraction with
//    the other wires' vectors (14 flops per output of each halving, see contraction_flops) and per
//    parameter the rank-one overlap of the wire's contraction with the tangent (4 * 2 + 2). A call that
//    asks for no input gradient skips the input parameters' tangents and overlaps (the model counts them:
//    it is the model of a call with every gradient); the lanes' forward schedule is Program's fusion of
//    the ops after the prefix;
//  * the adjoint sweep, op by op from the last to the first op with a non-constant parameter: phi <- U^dag
//    phi (the op's cost), then per lambda: the overlap G = <lam| . |phi> on the op's groups when the op has a
//    non-constant parameter (a dense block: 8 flops per matrix entry per group, 2^(n-c-t) * D^2 * 8; a
//    diagonal op: 8 * 2^n), each such parameter's derivative 2 Re sum_e dU_e G_e (4 flops per entry plus 2
//    for the doubling and accumulation), and lam <- U^dag lam (the op's cost) except at the last op of the
//    sweep. On lanes with kept forward states (LanePlan::n_kept(): every op after the prefix its own item of
//    the forward schedule, the states before the trainable ones fitting in kLaneKeptAmplitudes) there is no
//    phi pass: the sweep runs backwards over the schedule's items, per lambda the overlap and derivatives of
//    each trainable item and the lambda's un-apply (down to the prefix, else above the first trainable item);
//    the kept states cost no arithmetic. (The Jacobian and the angle gradients only; a VJP un-applies.)
//  * the shared-suffix path (shared_suffix.hpp, Simulator::flops(rows)): once per call the suffix's forward
//    schedule on the 2n-wire register of U (the model above at 2n wires) and, for a VJP, its adjoint sweep
//    with one lambda; per row the prefix (a product state: a 2x2 or diagonal matrix-vector product per op
//    and 2^k complex multiplies for the Kronecker product's k-th wire; otherwise the prefix's forward
//    schedule), 8 D^2 flops for each GEMM (D = 2^n: Phi = Psi U^T; for a VJP X = Phi^T conj(Lambda) and, for
//    input gradients, the lambdas at the split and the prefix's adjoint sweep), the observables (diagonal
//    ones: 3 flops for |phi_i|^2 and 2 per observable and amplitude; their lambda 2 per observable and 2 more
//    per amplitude; others the Pauli-term model).
// Not counted: binding (sines, cosines and the gate matrices of every row), the chain rule from angles to
// weights and inputs, filling states with zeros. The per-row and lane kernels do this same arithmetic
// (the per-row 2x2 sweep fuses the passes over memory, not the operations) except for the lanes'
// diagonal observables above.
#include <string>

#include "pyqml/statevector/simulator.hpp"

namespace pyqml::sv {

namespace {
constexpr int64_t kCmul = 6, kCadd = 2;

int64_t groups(const OpKernel& k, int n) { return int64_t(1) << (n - k.nc - k.nt); }
}  // namespace

int64_t Program::op_flops(size_t op) const {
    const OpKernel& k = kernels_[op];
    const int n = n_wires();
    const int64_t size = int64_t(1) << n;
    switch (k.kind) {
        case OpKernel::ControlledX: return 0;
        case OpKernel::Diagonal: return kCmul * size;
        default: {
            const int64_t d = int64_t(1) << k.nt;
            return groups(k, n) * d * (d * kCmul + (d - 1) * kCadd);
        }
    }
}

int64_t Program::overlap_flops(size_t op) const {
    const OpKernel& k = kernels_[op];
    const int n = n_wires();
    if (k.kind == OpKernel::ControlledX) return 0;  // no parameters
    if (k.kind == OpKernel::Diagonal) return (kCmul + kCadd) * (int64_t(1) << n);
    const int64_t d = int64_t(1) << k.nt;
    return groups(k, n) * d * d * (kCmul + kCadd);
}

int64_t Program::forward_flops() const {
    const int64_t product_2x2 = 8 * kCmul + 4 * kCadd;  // 56
    const int64_t dense1 = 14 * (int64_t(1) << n_wires());
    int64_t f = 0;
    for (const auto& item : schedule_) {
        if (item.size() == 1) f += op_flops(size_t(item[0]));
        else f += int64_t(item.size()) * product_2x2 + dense1;
    }
    return f;
}

namespace {
// The derivatives of an op's non-constant parameters from its overlap: 2 Re sum_e dU_e G_e, 4 flops per
// matrix entry (2^t diagonal, 4^t dense) plus 2 per parameter.
int64_t derivative_flops(const Program& p, size_t op) {
    const OpKernel& k = p.kernel(op);
    const int np = static_cast<int>(p.circuit().ops()[op].params.size());
    int64_t f = 0;
    for (int q = 0; q < np; ++q)
        if (k.trainable_mask & (1u << q)) f += 4 * int64_t(k.mat_size) + 2;
    return f;
}

// The adjoint sweep with nl lambdas from the last op down to op `end` (exclusive): per op the phi un-apply,
// per lambda the overlaps and derivatives of its trainable parameters (2 Re sum_e dU_e G_e: 4 flops per
// matrix entry plus 2) and the lambda's un-apply above the first trainable op `stop`; apply(op) is the cost
// of one application of op on the path being modelled.
template <class Apply>
int64_t sweep_flops(const Program& p, int64_t nl, size_t end, size_t stop, Apply apply) {
    int64_t s = 0;
    for (size_t op = p.n_ops(); op-- > end;) {
        const OpKernel& k = p.kernel(op);
        s += apply(op);  // phi
        int64_t per_lambda = 0;
        if (k.trainable_mask) per_lambda += p.overlap_flops(op) + derivative_flops(p, op);
        if (op > stop) per_lambda += apply(op);
        s += nl * per_lambda;
    }
    return s;
}
}  // namespace

int64_t adjoint_sweep_flops(const Program& p, int64_t nl) {
    const size_t stop = p.first_trainable_op();
    return sweep_flops(p, nl, stop, stop, [&](size_t op) { return p.op_flops(op); });
}

bool Simulator::takes_shared_suffix(int64_t rows, bool vjp, bool with_dx) const {
    Batch b;
    b.rows = rows;
    static const double kShared = 0.0;
    b.weights = &kShared;  // shared weights bound from weights and inputs: what use_shared asks of a batch
    return use_shared(b, vjp, with_dx);
}

Simulator::Flops Simulator::flops(int64_t rows, bool with_dx) const {
    const Flops f = flops();
    Flops t{f.forward * rows, f.values * rows, f.jacobian * rows, f.vjp * rows};
    if (takes_shared_suffix(rows, false, false)) t.values = shared_->values_flops(rows);
    if (takes_shared_suffix(rows, true, with_dx)) t.vjp = shared_->vjp_flops(rows, with_dx);
    return t;
}

Simulator::Flops Simulator::flops(int64_t rows, bool with_dx, bool saved) const {
    Flops t = flops(rows, with_dx);
    if (!saved || with_dx || !keeps_shared_suffix(rows)) return t;
    // forward() keeps the shared suffix's states; the VJP then runs its backward part alone.
    t.values = shared_->values_flops(rows);
    t.vjp = shared_->backward_flops(rows);
    return t;
}

namespace {
// The prefix contraction of lanes.cpp (prefix_contract) on a range of k bits: each side contracts the other
// side's bits out one halving at a time (2 complex products and an add per output, 14 flops), then recurses.
int64_t contraction_flops(int k) {
    if (k <= 1) return 0;
    const int kl = k / 2, kr = k - kl;
    int64_t f = 0;
    for (int count : {kr, kl})
        for (int s = 1; s <= count; ++s) f += (int64_t(1) << (k - s)) * (2 * kCmul + kCadd);
    return f + contraction_flops(kl) + contraction_flops(kr);
}
}  // namespace

Simulator::Flops Simulator::flops() const {
    const Program& p = program_;
    const Circuit& c = p.circuit();
    const int n = p.n_wires();
    const int64_t size = int64_t(1) << n;
    const LanePlan* lp = lanes_.get();
    // On lanes, permutations are relabellings (no arithmetic; on the per-row kernels they cost 0 too).
    auto opf = [&](size_t op) { return lp && lp->ops()[op].kind == LaneOp::Perm ? 0 : p.op_flops(op); };
    // The observables' passes: values, and the sweep's starting lambda(s) for the Jacobian and the VJP.
    int64_t obs_values = 0, obs_jac = 0, obs_vjp = 0;
    const bool all_diag = lanes_ && lanes_->diagonal_observables();
    if (all_diag && !obs_.empty()) obs_values = 3 * size;
    for (size_t o = 0; o < obs_.size(); ++o) {
        const int64_t terms = int64_t(obs_[o].size());
        if (all_diag) {
            obs_values += 2 * size;
            obs_jac += 2 * size;
            obs_vjp += 2 * size;
        } else if (lanes_ && lanes_->observables()[o].diagonal) {
            obs_values += 5 * size;
            obs_jac += 4 * size;
            obs_vjp += 4 * size;
        } else {
            obs_values += terms * (kCmul + kCadd) * size;
            obs_jac += terms * (kCmul + kCadd) * size;
            obs_vjp += terms * (kCmul + kCadd) * size;
        }
    }
    if (all_diag && !obs_.empty()) obs_vjp += 2 * size;
    Flops f;
    const size_t S = lp ? lp->prefix_end() : 0;
    if (lp) {
        // The lanes' forward pass: the prefix's vectors and product state, then the lane schedule.
        const auto& kernels = p.kernels();
        for (size_t op = 0; op < S; ++op)
            if (lp->prefix_prev()[op] >= 0) f.forward += kernels[op].kind == OpKernel::Diagonal ? 2 * kCmul : 28;
        if (S > 0) f.forward += kCmul * ((int64_t(1) << (n + 1)) - 2);
        for (const auto& item : lp->schedule()) {
            if (item.size() == 1) f.forward += opf(size_t(item[0]));
            else f.forward += int64_t(item.size()) * (8 * kCmul + 4 * kCadd) + 14 * size;
        }
    } else {
        f.forward = p.forward_flops();
    }
    f.values = f.forward + obs_values;
    const size_t stop = p.first_trainable_op();
    const bool use_prefix = S > 0 && stop < S;
    // The prefix's derivatives (lanes.cpp): per row, each trainable prefix parameter's forward tangent (dg/dp
    // on the op's input vector, none against |0>, then the wire's later prefix ops); per lambda the
    // contraction, then per parameter the rank-one overlap with its tangent (2 entries: 4 * 2 + 2).
    int64_t prefix_per_lambda = 0, prefix_tangents = 0;
    if (use_prefix) {
        prefix_per_lambda = contraction_flops(n);
        for (const LanePlan::PrefixParam& pp : lp->prefix_params()) {
            prefix_per_lambda += 4 * 2 + 2;
            auto apply2 = [&](int op) { return p.kernel(size_t(op)).kind == OpKernel::Diagonal ? 2 * kCmul : 28; };
            if (lp->prefix_prev()[size_t(pp.op)] >= 0) prefix_tangents += apply2(pp.op);
            for (int op = lp->prefix_next()[size_t(pp.op)]; op >= 0; op = lp->prefix_next()[size_t(op)])
                prefix_tangents += apply2(op);
        }
    }
    // Kept forward states (lanes.hpp): the sweep runs backwards over the schedule's items with no phi pass;
    // per lambda the overlap and derivatives of a trainable item, and the lambda's un-apply down to the
    // prefix (or above the first trainable item).
    const bool kept = lp && lp->n_kept() > 0;
    int64_t kept_per_lambda = 0;
    if (kept) {
        const auto& sched = lp->schedule();
        const auto& slot = lp->kept_slot();
        size_t first = 0;
        while (first < sched.size() && slot[first] < 0) ++first;
        for (size_t it = sched.size(); it-- > (use_prefix ? size_t(0) : first);) {
            const size_t op = size_t(sched[it][0]);
            if (lp->forward_ops()[it].kind == LaneOp::Perm) continue;
            if (slot[it] >= 0) kept_per_lambda += p.overlap_flops(op) + derivative_flops(p, op);
            if (use_prefix || it > first) kept_per_lambda += p.op_flops(op);
        }
    }
    // The sweep with nl lambdas.
    auto sweep = [&](int64_t nl, int64_t start, bool use_kept) {  // start: lambda(s) = H psi
        const int64_t s = use_kept ? nl * kept_per_lambda : sweep_flops(p, nl, use_prefix ? S : stop, stop, opf);
        return start + s + prefix_tangents + nl * prefix_per_lambda;
    };
    f.jacobian = f.values + sweep(n_observables(), obs_jac, kept);
    f.vjp = f.values + sweep(1, obs_vjp, kept);
    return f;
}

}  // namespace pyqml::sv
