#pragma once
// Batched execution of a compiled circuit on the state-vector method: values, adjoint Jacobians, VJPs,
// states, probabilities, samples. One call handles a whole batch of input rows; OpenMP spreads the rows
// (small registers) or the amplitudes (large registers), never both at once.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "pyqml/common/batch.hpp"
#include "pyqml/common/threads.hpp"
#include "pyqml/observables/pauli.hpp"
#include "pyqml/statevector/lanes.hpp"
#include "pyqml/statevector/program.hpp"
#include "pyqml/statevector/shared_suffix.hpp"

namespace pyqml::sv {

using pyqml::Batch;
using pyqml::Precision;

class Simulator;

// What Simulator::forward keeps for the VJP that follows it on the same batch: copies of the weights and
// inputs it ran on (a VJP on arrays of other contents does not use it), and, when the cost model sends the
// forward + VJP pair to the shared-suffix path, the final states and the suffix's matrices. Owns its
// buffers; read-only after the forward, so one SavedForward may serve VJPs on several threads.
class SavedForward {
public:
    // Whether b holds the weights and inputs this forward ran on (same rows, same contents).
    bool matches(const Batch& b, int n_weights, int n_inputs) const;
    // Whether the backward part alone can run from it (the shared-suffix path kept its states).
    bool has_state() const { return kept_valid_; }
    int64_t rows() const { return rows_; }

private:
    friend class Simulator;
    const Simulator* owner_ = nullptr;
    std::shared_ptr<const SharedSuffix> shared_;
    Precision precision_ = Precision::Double;
    std::vector<double> weights_, inputs_;
    int64_t rows_ = 0;
    bool weights_per_row_ = false, has_inputs_ = false, kept_valid_ = false;
    SharedSuffixKept kept_;
};

class Simulator {
public:
    Simulator(const Circuit& circuit, std::vector<Observable> observables, Precision precision);

    const Program& program() const { return program_; }
    const Circuit& circuit() const { return program_.circuit(); }
    int n_observables() const { return static_cast<int>(obs_.size()); }

    // Real flops of one row's arithmetic, counted from the compiled program (flops.cpp): the forward pass
    // and every observable's expectation (values), plus the adjoint sweep with one lambda per observable
    // (jacobian) or one cotangent-weighted lambda (vjp). Multiply by the row count for a batch.
    struct Flops {
        int64_t forward = 0, values = 0, jacobian = 0, vjp = 0;
    };
    Flops flops() const;
    // Real flops of a whole call of `rows` rows along the path the calls take for it (the shared-suffix path
    // counts its per-call and per-row parts; the row paths rows x flops()). with_dx: a VJP that computes the
    // input gradients. Weights shared by the rows.
    Flops flops(int64_t rows, bool with_dx = true) const;
    // The same for a VJP that follows forward() on the same batch (saved): values as forward() computes
    // them, vjp the backward part alone when the pair takes the shared-suffix path (values + backward).
    Flops flops(int64_t rows, bool with_dx, bool saved) const;
    // Whether a call of `rows` rows with shared weights takes the shared-suffix path (values, or a VJP with or
    // without input gradients), and where the suffix starts (-1: the circuit has none).
    bool takes_shared_suffix(int64_t rows, bool vjp, bool with_dx) const;
    int shared_suffix_split() const { return shared_ ? static_cast<int>(shared_->split()) : -1; }

    // out: rows x n_obs
    void expval(const Batch& b, double* out) const;
    // expval that also keeps, in `saved`, what the VJP on the same batch needs (SavedForward). The cost model
    // weighs the pair (values, then a VJP without input gradients) when choosing the path; need_dx: the VJP
    // will ask for the input gradients, which the shared suffix's kept states cannot give (it then keeps none).
    void forward(const Batch& b, double* out, SavedForward& saved, bool need_dx = false) const;
    // vjp after forward(): when `saved` came from this engine's forward on the same weights and inputs (by
    // content) and kept the shared suffix's states, and the VJP needs no per-row prefix gradients (dx null,
    // no weight read by the prefix), only the backward part runs; otherwise the whole vjp().
    void vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx, const SavedForward* saved) const;
    // Whether forward() on `rows` rows with shared weights keeps the shared suffix's states.
    bool keeps_shared_suffix(int64_t rows) const;
    // out: rows x n_obs, <H^2> - <H>^2
    void var(const Batch& b, double* out) const;
    // Adjoint Jacobian (Jones & Gacon, arXiv:2009.02823). vals: rows x n_obs; dw: rows x n_obs x n_weights;
    // dx: rows x n_obs x n_inputs (dx may be null).
    void jacobian(const Batch& b, double* vals, double* dw, double* dx) const;
    // Vector-Jacobian product with cotangent (rows x n_obs): vals as above, dw: n_weights summed over rows
    // (rows x n_weights when weights_per_row), dx: rows x n_inputs. One backward sweep per row.
    void vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const;
    // Gradients with respect to every gate angle: rows x n_obs x n_angles.
    void angle_jacobian(const Batch& b, double* vals, double* dangles) const;
    // out: rows x 2^n complex128
    void state(const Batch& b, cplx* out) const;
    // out: rows x 2^k marginal probabilities of wires
    void probs(const Batch& b, const std::vector<int>& wires, double* out) const;
    // out: rows x shots x k bits; row r uses seed + r.
    void sample(const Batch& b, const std::vector<int>& wires, int64_t shots, uint64_t seed, int8_t* out) const;

private:
    template <class F, class Body>
    void for_rows(const Batch& b, int states_per_row, bool with_derivs, Body&& body) const;
    template <class F>
    void backward(const cplx* mats, amp_t<F>* phi, std::vector<amp_t<F>*>& lambdas, bool par,
                  double* d_angles /* n_lambda x n_angles */) const;
    template <class F>
    void expval_t(const Batch& b, double* out) const;
    template <class F>
    void var_t(const Batch& b, double* out) const;
    template <class F>
    void adjoint_t(const Batch& b, const double* cot, double* vals, double* dw, double* dx,
                   double* dangles) const;
    // Rows across SIMD lanes (lanes.cpp) for registers of at most kLaneMaxWires wires.
    bool use_lanes(const Batch& b) const { return lanes_ && b.rows >= kLaneMinRows; }
    // Threads a lane call of `rows` rows runs on: one per block of kLanes rows, at most max_threads(), and,
    // where idle workers sleep, one more per kLaneWakeFlops of the call's arithmetic (derivs: a Jacobian or
    // VJP, else values).
    int lane_workers(int64_t rows, bool derivs) const;
    template <class F, class Body>
    void for_lane_blocks(const Batch& b, int states_per_block, bool with_derivs, Body&& body) const;
    template <class F>
    void lane_forward(F* re, F* im, const F* lre, const F* lim, F* keep = nullptr) const;
    template <class F>
    void lane_expval_t(const Batch& b, double* out) const;
    template <class F>
    void lane_adjoint_t(const Batch& b, const double* cot, double* vals, double* dw, double* dx,
                        double* dangles) const;
    // Whether a call on this batch takes the shared-suffix path (shared_suffix.hpp): values (vjp false) or a
    // VJP (with_dx: computing the input gradients), when the cost model says it is cheaper than the rows.
    bool use_shared(const Batch& b, bool vjp, bool with_dx) const;
    // Whether forward() takes the shared-suffix path and keeps its states, for a VJP (with input gradients:
    // need_dx) that they can serve.
    bool use_shared_pair(const Batch& b, bool need_dx = false) const;
    template <class F>
    void state_t(const Batch& b, int64_t amp_limit, const std::function<void(int64_t, const amp_t<F>*)>& take) const;

    Program program_;
    std::vector<std::vector<PauliMasks>> obs_;
    Precision precision_;
    std::shared_ptr<const LanePlan> lanes_;  // null when the register is too wide for lanes
    std::shared_ptr<const SharedSuffix> shared_;  // null when no suffix of shared gates follows the inputs
    Flops row_flops_;                             // flops() of the row paths, for the cost model
};

using pyqml::max_threads;

// Samples from per-row marginal probabilities p (rows x 2^k): out rows x shots x k bits, row r drawn with
// seed + r by inverse-transform sampling (what Simulator::sample does after probs; shared with the GPU).
void sample_from_probs(const double* p, int64_t rows, int k, int64_t shots, uint64_t seed, int8_t* out);

}  // namespace pyqml::sv
