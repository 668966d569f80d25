#pragma once
// The trajectories method (Monte Carlo wave function, quantum jumps): a noisy circuit as an average over
// pure-state trajectories, N per row, all in one batched call.
//
// Estimator (importance sampled, state-independent proposals)
// -----------------------------------------------------------
// A channel E(rho) = sum_k K_k rho K_k^dag is unravelled by drawing one Kraus index k per channel and
// trajectory from probabilities q_k = Tr(K_k^dag K_k) / d (d = 2^wires of the channel), which depend on the
// channel's parameters but never on the state; the trajectory applies M_k = K_k / sqrt(q_k) and is NOT
// renormalised. With psi = M ... U ... M ... U |0>, the trajectory's estimate is f = <psi|O|psi>, and
//
//     E_q[f] = sum over Kraus sequences of (prod q)(prod 1/q) <psi_K|O|psi_K> = Tr(O E_N(... E_1(rho)))
//
// exactly, for every choice of q with q_k > 0 wherever K_k != 0. For mixed-unitary channels (BitFlip,
// PhaseFlip, DepolarizingChannel, PauliError) M_k is unitary and this is the usual unravelling; for damping
// channels the trajectory's norm carries the importance weight. Because q does not depend on the state, a
// trajectory's index sequence is fixed by (seed, row, trajectory) alone and f is a smooth function of every
// gate angle, so the adjoint method applies to each trajectory: d f / d theta = 2 Re <lambda| dM |phi>
// (Jones & Gacon, arXiv:2009.02823, with M^dag in place of U^dag on lambda). Non-unitary M_k cannot be
// un-applied to phi, so the state before each of them is kept (one state vector per such channel in the
// trajectory); unitary ones are un-applied as gates are.
//
// Gradients with respect to a channel's own parameters hold q fixed at its value for the bound parameters:
// E_q[d f / d p] = d/dp E_q[f] = d<O>/dp, unbiased. (Finite differences of the seeded estimator in such a
// parameter also move q and hence differ per trajectory; for gate angles they match the adjoint exactly.)
//
// Results: per row and observable the mean over the N trajectories and its standard error
// s / sqrt(N) (s the sample standard deviation), for values and for every gradient entry.
// Reproducible: trajectory t of row r draws from a generator seeded by (seed, r, t), so results do not
// depend on the thread count; per-trajectory results are summed in trajectory order.
#include <cstdint>
#include <vector>

#include "pyqml/circuit/circuit.hpp"
#include "pyqml/common/batch.hpp"
#include "pyqml/observables/pauli.hpp"

namespace pyqml::traj {

class Trajectories {
public:
    Trajectories(const Circuit& circuit, const std::vector<Observable>& observables, Precision precision);

    const Circuit& circuit() const { return circuit_; }
    int n_observables() const { return static_cast<int>(obs_.size()); }
    int n_channels() const { return n_channels_; }
    // Bytes a call allocates (per-thread states and the block of per-trajectory results).
    double estimated_bytes(int64_t rows, int64_t trajectories, bool gradients) const;

    // mean, stderr: rows x n_obs.
    void expval(const Batch& b, int64_t trajectories, uint64_t seed, double* mean, double* se) const;
    // Also d/d weights (rows x n_obs x n_w) and d/d inputs (rows x n_obs x n_x), each with its standard error
    // (any of dw, dx, dw_se, dx_se may be null).
    void jacobian(const Batch& b, int64_t trajectories, uint64_t seed, double* mean, double* se, double* dw,
                  double* dx, double* dw_se, double* dx_se) const;

private:
    template <class F>
    void run(const Batch& b, int64_t trajectories, uint64_t seed, bool grads, double* mean, double* se, double* dw,
             double* dx, double* dw_se, double* dx_se) const;

    Circuit circuit_;
    std::vector<std::vector<PauliMasks>> obs_;
    Precision precision_;
    int n_channels_ = 0;
    int n_checkpoints_ = 0;  // channels that are not mixed-unitary: at most this many states kept per trajectory
};

}  // namespace pyqml::traj
