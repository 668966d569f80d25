#pragma once
// The one table of gates: name, wire and parameter counts, structure (controls, diagonal, nonzero pattern),
// matrix, derivative of the matrix with respect to each parameter, parameter-shift rule and the Pauli
// generator of each parameter. Both engines and the Python layer read gates from here (Python through
// pyqml._core.gate_table()).
//
// Conventions are PennyLane's: RX(t) = exp(-i t X / 2) and likewise RY, RZ; Rot(phi, theta, omega) =
// RZ(omega) RY(theta) RZ(phi); controls come first in a gate's wire list; the first wire of a gate is the
// most significant bit of its matrix index.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pyqml/common/types.hpp"

namespace pyqml::gates {

enum class GateId : int {
    I, H, X, Y, Z, S, Sdg, T, Tdg, SX, SXdg,
    RX, RY, RZ, PhaseShift, Rot, U3,
    CNOT, CY, CZ, CH, SWAP, ISWAP,
    CRX, CRY, CRZ, CRot, ControlledPhaseShift,
    IsingXX, IsingYY, IsingZZ, MultiRZ,
    Toffoli, CSWAP, QubitUnitary,
    Count
};

// How d f / d p follows from shifted evaluations of f (Wierichs et al., Quantum 6, 677 (2022)).
//   TwoTerm:  [f(p + pi/2) - f(p - pi/2)] / 2                   (generator eigenvalues +-1/2 or {0, 1})
//   FourTerm: c+ [f(p + pi/2) - f(p - pi/2)] - c- [f(p + 3pi/2) - f(p - 3pi/2)],
//             c+- = (sqrt2 +- 1) / (4 sqrt2)                      (controlled rotations: {0, +-1/2})
enum class ShiftRule : int { None = 0, TwoTerm = 2, FourTerm = 4 };

// Fills the target block of a gate for parameters p. The block acts on the gate's last
// (n_wires - n_controls) wires; `dim` = 2^(that number). Diagonal gates store their diagonal (dim entries),
// others a dense row-major dim x dim matrix.
using MatrixFn = void (*)(const double* p, int dim, cplx* out);
// Derivative of the target block with respect to p[k], same layout.
using DerivFn = void (*)(const double* p, int k, int dim, cplx* out);
// Optional: the derivatives selected by `mask` (bit k: d/dp[k], written at out + k * block) sharing one
// evaluation of the trigonometric functions.
using DerivsFn = void (*)(const double* p, unsigned mask, int dim, cplx* out);

// One term c * P of a parameter's generator G (U = exp(-i theta G) up to a global phase): `paulis` holds one
// letter (I, X, Y, Z) per wire of the gate, in wire order; for a gate of variable width (MultiRZ) one letter
// that stands on every wire.
struct GeneratorTerm {
    double coeff;
    const char* paulis;
};

struct GateSpec {
    GateId id;
    const char* name;
    int n_wires;     // -1: any number >= 1 (MultiRZ); QubitUnitary: 1..3, from its matrix
    int n_params;
    int n_controls;  // leading wires that must all be |1> for the target block to act
    bool diagonal;
    MatrixFn matrix;    // nullptr for QubitUnitary (its matrix is data, not a function of parameters)
    DerivFn dmatrix;    // nullptr for fixed gates
    ShiftRule shift_rule;
    DerivsFn dmatrices;  // nullptr: fill_dmatrices loops over dmatrix
    // Structural nonzero pattern of the target block, for every value of the parameters: rows separated by
    // '.', '1' where an entry may be nonzero ("01.10" for X); or "diag" / "dense" (any width).
    const char* block_pattern;
    // Per parameter, the Pauli terms of its generator; empty for gates whose parameters have no fixed
    // generator (Rot, U3, CRot: the metric tensor splits them into rotations) and for fixed gates.
    std::vector<std::vector<GeneratorTerm>> generators;
};

const GateSpec& gate_spec(GateId id);
std::optional<GateId> gate_by_name(std::string_view name);
const std::vector<GateSpec>& all_gates();

// Number of wires the gate acts on (resolving the variable-width gates), or throws InvalidInput.
int gate_wire_count(GateId id, int requested_wires);

// The full 2^k x 2^k matrix of a gate on its k wires (controls included), row-major. For QubitUnitary
// pass its matrix in `unitary`. Used by tests and by engines that need the dense form.
std::vector<cplx> full_matrix(GateId id, int n_wires, const double* p, const cplx* unitary = nullptr);
// Target-block derivatives for the parameters in `mask` (layout of DerivsFn).
void fill_dmatrices(GateId id, const double* p, int dim, unsigned mask, cplx* out);

// d full_matrix / d p[k].
std::vector<cplx> full_dmatrix(GateId id, int n_wires, const double* p, int k);

// Structural nonzero pattern of full_matrix (2^k x 2^k, row-major, controls included: the control-off part
// is the identity): 1 where an entry may be nonzero for some parameters, 0 where it is zero for all. The
// boolean product of the patterns of a sequence of gates therefore bounds the nonzeros of their product.
std::vector<char> full_pattern(GateId id, int n_wires);

// True when the gate acts diagonally on its j-th wire (every nonzero entry has equal row and column bits
// there): its controls, and every wire of a diagonal gate. In a tensor network that wire's input and output
// are then one index (a hyperedge); in a light cone the gate commutes with Z on that wire.
bool diagonal_on_wire(GateId id, int j);

// Whether a pattern (dim x dim, dim = 2^k, row-major) is diagonal on wire q (0: most significant bit).
bool pattern_diagonal_on_wire(const std::vector<char>& pattern, int k, int q);

}  // namespace pyqml::gates
