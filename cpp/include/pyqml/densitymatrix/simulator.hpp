#pragma once
// Batched execution of noisy circuits on the density-matrix method: values, variances, probabilities,
// samples, density matrices, and adjoint Jacobians / VJPs through channels.
//
// Layout. rho (2^n x 2^n) is stored as the 2n-qubit vector vec(rho)[(i << n) | j] = rho[i][j]: ket wire w
// is bit 2n-1-w, bra wire w is bit n-1-w. A gate U acts as U on the ket bits and conj(U) on the bra bits
// (rho -> U rho U^dag), through the state-vector kernels, never as a dense 4^k superoperator. A channel on
// wires W acts as its superoperator S = sum_k K_k (x) conj(K_k) on the bits (ket W, bra W): a 4x4 on two
// bits for a 1-wire channel, 16x16 on four bits for a 2-wire channel.
//
// Fused runs. A run of single-wire ops (gates and channels) on one wire, with no multi-wire op on that wire
// in between, is one 4x4 superoperator S = S_K ... S_1 on the wire's (ket, bra) bits (S_j = U (x) conj(U)
// for a gate): one pass over rho for the whole run, half the arithmetic when S keeps the parity of its
// index (Pauli and damping channels). The matrices of a row are bound once before its forward pass and
// reused by the backward one; runs of constants are bound once per call. A parameter of member j gets
// <sigma | Q_j dS_j P_j rho> (P_j, Q_j: products of the members before and after it) from one 4x4 local
// overlap of sigma and rho per run and observable. CNOT is a swap of amplitudes on the ket and bra bits.
//
// Adjoint gradients (Heisenberg picture). <O> = <vec O | vec rho_L> with rho_l = E_l(rho_{l-1}). Going
// backwards, sigma_L = O and sigma_{l-1} = E_l^dag(sigma_l) (U^dag sigma U for a gate, S^dag on vec sigma
// for a channel); a parameter t of op l contributes <sigma_l | dE_l/dt (rho_{l-1})>. For a gate that is
// 2 Re <sigma_l | (dU U^dag (x) 1) rho_l>, a local overlap on the gate's ket bits; for a channel
// <sigma_l | dS rho_{l-1}>, a local overlap on its (ket, bra) bits. Gates are undone on the way back
// (rho_{l-1} = U^dag rho_l U); channels cannot be, so the forward pass keeps rho before channels at
// checkpoints (as many as the memory limit allows) and recomputes from the nearest one. A Jacobian costs
// 2 + n_obs density matrices and the checkpoints per row, a VJP 3 and the checkpoints, whatever the number
// of parameters.
#include <cstdint>
#include <vector>

#include "pyqml/circuit/circuit.hpp"
#include "pyqml/common/batch.hpp"
#include "pyqml/observables/pauli.hpp"

namespace pyqml::dm {

using pyqml::Batch;
using pyqml::Precision;

// The widest register the density-matrix method addresses (4^15 amplitudes: 16 GiB in complex128); the
// memory guard decides below it.
inline constexpr int kMaxWires = 15;

class Simulator {
public:
    Simulator(const Circuit& circuit, std::vector<Observable> observables, Precision precision);

    const Circuit& circuit() const { return circuit_; }
    int n_observables() const { return static_cast<int>(obs_.size()); }

    // Bytes of the density matrices one call of `what` ("expval", "var", "jacobian", "vjp", "probs") needs
    // for `rows` rows, and how many checkpoints a gradient keeps within the memory limit.
    double estimate_bytes(const char* what, int64_t rows) const;

    // out: rows x n_obs
    void expval(const Batch& b, double* out) const;
    // out: rows x n_obs, Tr(O^2 rho) - Tr(O rho)^2
    void var(const Batch& b, double* out) const;
    // vals: rows x n_obs; dw: rows x n_obs x n_weights; dx: rows x n_obs x n_inputs (may be null).
    void jacobian(const Batch& b, double* vals, double* dw, double* dx) const;
    // cot: rows x n_obs. vals as above; dw: n_weights summed over rows (rows x n_weights when
    // weights_per_row); dx: rows x n_inputs.
    void vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const;
    // d<O>/d(every op parameter): rows x n_obs x n_angles.
    void angle_jacobian(const Batch& b, double* vals, double* dangles) const;
    // out: rows x 2^n x 2^n complex128
    void density_matrix(const Batch& b, cplx* out) const;
    // out: rows x 2^k marginal probabilities of wires
    void probs(const Batch& b, const std::vector<int>& wires, double* out) const;
    // out: rows x shots x k bits; row r uses seed + r.
    void sample(const Batch& b, const std::vector<int>& wires, int64_t shots, uint64_t seed, int8_t* out) const;

private:
    template <class F>
    void expval_t(const Batch& b, double* out) const;
    template <class F>
    void var_t(const Batch& b, double* out) const;
    template <class F>
    void adjoint_t(const Batch& b, const double* cot, double* vals, double* dw, double* dx, double* dangles) const;
    template <class F, class Take>
    void forward_rows(const Batch& b, Take&& take) const;

    Circuit circuit_;
    std::vector<std::vector<PauliMasks>> obs_;
    Precision precision_;
};

}  // namespace pyqml::dm
