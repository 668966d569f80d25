#pragma once
// Reverse light cones of Pauli terms, and the structural key under which cones share a contraction plan.
//
// In <0|U^dag P U|0> a gate G_k (walking backwards from P) cancels with its adjoint when it commutes with
// the operator built so far, O_{k+1} = (later cone gates)^dag P (later cone gates). Disjoint support is
// the usual test; we also use that two gates commute when both act diagonally (in Z) on every wire they
// share. So G_k is dropped when, on each of its wires w that the cone already touches, G_k is diagonal on
// w and so are P_w (I or Z) and every cone gate on w. This keeps, e.g., one QAOA cost layer's ZZ gates
// from chaining the cone through each other.
//
// The walk runs over the units of a FusedCircuit (single ops, or blocks fused on one or two wires, with
// per-wire diagonal flags from structure), so `cx a,b; rz b; cx a,b` counts as the diagonal block it is.
//
// The walk visits gates through per-wire lists and a max-heap of candidate gate indices, so a term costs
// O(g log g) with g the gates touching its cone, not O(all gates).
#include <string>
#include <vector>

#include "pyqml/circuit/circuit.hpp"
#include "pyqml/tensornet/fusion.hpp"

namespace pyqml::tn {

// True when gate `id` acts diagonally on its j-th wire (the gate table's gates::diagonal_on_wire).
inline bool diagonal_on_wire(gates::GateId id, int j) { return gates::diagonal_on_wire(id, j); }

struct Cone {
    std::vector<int> units;  // units of the fused circuit in the cone, in time order
    std::vector<int> ops;    // their circuit op indices (member by member), in time order
    std::vector<int> wires;  // circuit wires; local wire i is wires[i] (term wires first, then discovery order)
    std::string letters;     // Pauli letter per local wire ('I' off the term)
    std::string key;         // structure: letters, unit keys (gate ids, block members) and local wires
};

class LightCones {
public:
    explicit LightCones(const FusedCircuit& c);
    // Cone of the Pauli word (wires, letters); wires must be distinct and in range.
    Cone cone(const std::vector<int>& wires, const std::string& letters);

private:
    const FusedCircuit& fused_;
    std::vector<std::vector<int>> wire_ops_;   // units on each wire, in time order
    std::vector<std::vector<int>> pos_;        // pos_[u][j]: index of unit u in wire_ops_[u.wires[j]]
    std::vector<int> op_stamp_, wire_stamp_, local_;
    std::vector<char> clean_;
    int stamp_ = 0;
};

}  // namespace pyqml::tn
