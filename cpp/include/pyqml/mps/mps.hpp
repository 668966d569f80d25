#pragma once
// The matrix-product-state method: a circuit run on a canonical-form MPS, gates on non-adjacent wires
// brought together by a swap network, bonds cut by SVD (LAPACK) to a maximal bond dimension and a
// discarded-weight cutoff; every measurement on the final MPS, exact reverse-mode gradients of the computed
// (truncated) values.
//
//   site i:   A_i[a, s, b]      a: left bond (dl), s: physical (2), b: right bond (dr), row-major
//
//        |s0      |s1            |s(n-1)
//      [A_0]--b--[A_1]--b-- ... [A_(n-1)]          bonds at the ends have dimension 1
//
// A gate on k adjacent sites (k = 1..3; wider MultiRZ is compiled into a CNOT ladder) merges them, applies
// the gate matrix to the merged physical index and splits back with k - 1 truncated SVDs, leaving the
// orthogonality centre at the block's left or right end (whichever the next block is nearer to). Before a
// multi-site block the centre is moved into it (SVD steps without a gate), so every cut is made in the
// canonical gauge: the discarded singular values are the discarded Schmidt coefficients, and their
// weight relative to the state's norm is the step's truncation error eps_t.
//
// Reported per row (TruncationInfo): discarded = sum_t eps_t; fidelity = prod_t (1 - eps_t), the usual
// estimate of |<psi_exact|psi_mps>|^2; error_bound = sum_t sqrt(2 - 2 sqrt(1 - eps_t)), a rigorous bound on
// || psi_exact - psi_mps || for the normalised states (each step moves the normalised state by exactly
// that much and unitaries keep distances), so |<O>_exact - <O>_mps| <= 2 ||O|| error_bound.
//
// Gradients (adjoint.cpp): the forward pass keeps each block's input tensors (and its SVDs while they fit
// a memory budget, else they are recomputed bit for bit); the backward pass runs the blocks in reverse and
// propagates cotangents through the gate, the merges and the truncated SVDs (the derivative of the kept
// singular subspace, including its rotation into the discarded and null spaces), so the result is the exact
// derivative of the truncated computation. Without truncation, blocks after the first ill-conditioned or
// rank-deficient split take the adjoint sweep on states instead, so the result is the exact gradient of the
// circuit to rounding whatever the Schmidt spectra.
#include <cstdint>
#include <vector>

#include "pyqml/circuit/circuit.hpp"
#include "pyqml/common/batch.hpp"
#include "pyqml/gates/gate_table.hpp"
#include "pyqml/observables/pauli.hpp"

namespace pyqml::mps {

struct Options {
    int max_bond = 0;       // 0: no limit
    double cutoff = 0.0;    // discard the smallest singular values while their weight stays <= cutoff
    bool relative = true;   // ... times the block's total weight (else: absolute weight)
};

// Per row: discarded weight, fidelity estimate, error bound, largest bond dimension reached.
inline constexpr int kInfoFields = 4;

// One step of the compiled program: a gate (or none: a centre move) on sites lo .. lo + k - 1.
struct Block {
    int lo = 0;
    int k = 1;
    bool has_gate = false;
    gates::GateId gate = gates::GateId::I;
    int gate_wires = 1;         // wires of the gate (its matrix is 2^gate_wires square)
    int angle0 = 0;             // first angle of the gate's parameters in the circuit's angle vector
    int n_params = 0;
    std::vector<int> perm;      // block position j holds gate wire perm[j]
    const std::vector<cplx>* unitary = nullptr;  // QubitUnitary
    bool center_right = true;   // multi-site: the centre ends at lo + k - 1 (else at lo)
};

class Engine {
public:
    Engine(const Circuit& circuit, std::vector<Observable> observables, Precision precision, Options options);
    // Blocks point at the circuit's own QubitUnitary matrices: not copyable.
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    const Circuit& circuit() const { return circuit_; }
    int n_observables() const { return static_cast<int>(observables_.size()); }
    int n_wires() const { return circuit_.n_wires(); }
    const std::vector<Block>& program() const { return blocks_; }
    const Options& options() const { return options_; }
    Precision precision() const { return precision_; }

    // Upper bound on every bond's dimension (n - 1 bonds): the exact Schmidt-rank bound (2^min(left,
    // right) and the product of the operator Schmidt ranks of the blocks across the bond), capped by max_bond.
    std::vector<double> bond_bounds() const;
    // Estimated peak bytes of one row's state (and, for gradients, its tape and environments).
    double row_bytes(bool gradient) const;
    // Estimated complex multiply-adds of one row's forward pass.
    double forward_macs() const;

    // Every call fills info (rows x kInfoFields) as well as its results.
    void expval(const Batch& b, double* out, double* info) const;
    void jacobian(const Batch& b, double* vals, double* dw, double* dx, double* info) const;
    void vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx, double* info) const;
    void probs(const Batch& b, const std::vector<int>& wires, double* out, double* info) const;
    void sample(const Batch& b, const std::vector<int>& wires, int64_t shots, uint64_t seed, int8_t* out,
                double* info) const;
    void amplitude(const Batch& b, const std::vector<int>& bits, cplx* out, double* info) const;
    // Von Neumann entropy (natural log) across each cut i | i + 1, (rows, n - 1).
    void entropies(const Batch& b, double* out, double* info) const;
    // <phi(a_i)|phi(b_j)> for the rows of two batches (rows_a x rows_b); info holds the rows of a then b.
    void overlaps(const Batch& a, const Batch& b, cplx* out, double* info) const;

    // Internal: the row loop every call runs in (engine.cpp).
    template <class R, class Body>
    void for_rows(const Batch& b, double bytes_per_row, const char* what, Body&& body) const;

private:
    Circuit circuit_;
    std::vector<Observable> observables_;
    Precision precision_;
    Options options_;
    std::vector<Block> blocks_;

    template <class R> void expval_t(const Batch&, double*, double*) const;
    template <class R> void gradient_t(const Batch&, const double* cot, double* vals, double* dw, double* dx,
                                       double* info) const;
    template <class R> void probs_t(const Batch&, const std::vector<int>&, double*, double*) const;
    template <class R> void sample_t(const Batch&, const std::vector<int>&, int64_t, uint64_t, int8_t*, double*) const;
    template <class R> void amplitude_t(const Batch&, const std::vector<int>&, cplx*, double*) const;
    template <class R> void entropies_t(const Batch&, double*, double*) const;
    template <class R> void overlaps_t(const Batch&, const Batch&, cplx*, double*) const;
};

}  // namespace pyqml::mps
