#pragma once
// The circuit as the tensor-network method sees it: a list of units, each one op or a block of ops fused on
// the same one or two wires, with per-wire diagonality decided from structure.
//
// Why: a circuit written as Qiskit exports it spells each ZZ rotation `cx a,b; rz b; cx a,b`. Gate by gate the
// CNOTs are not diagonal on b, so a commutation-aware light cone chains through a whole cost layer; the
// block of the three is exp(-i t ZZ / 2), diagonal on both wires. Fusing it makes the circuit plan like one
// written with IsingZZ.
//
// Diagonality comes from structural nonzero patterns (gates::full_pattern, the same for every angle): the
// boolean product of the members' patterns bounds the block's nonzeros, so a block whose product is
// diagonal on a wire is diagonal there for all angles, and so are its derivatives (a member's derivative
// vanishes wherever the member does).
//
// Fusion never makes a circuit plan worse: a window of gates on one or two wires is fused only when the block
// is diagonal on a wire on which its members were not all diagonal; among such windows the one diagonal on
// the most wires, then the shortest, is taken (so an RX or H next to a `cx; rz; cx` stays outside and the
// block stays diagonal on both wires). Gates on three or more wires and QubitUnitary are never fused.
//
// Angles stay per member op: a unit's matrix is the product of its members' matrices at their own angles,
// and d(block)/d(theta_i) = (later members) . dG_i . (earlier members).
#include <string>
#include <vector>

#include "pyqml/circuit/circuit.hpp"

namespace pyqml::tn {

struct Unit {
    std::vector<int> ops;                   // circuit op indices, in time order
    std::vector<int> wires;                 // circuit wires; the first is the most significant matrix bit
    std::vector<std::vector<int>> members;  // per member op: positions of its wires in `wires`
    std::vector<char> diagonal;             // per wire: the unit acts diagonally there
    int n_params = 0;                       // parameters of all members, member by member
    std::string name;                       // the gate's name, or a block's "[CNOT 0 1; RZ 1; CNOT 0 1]"
    std::string key;                        // structure: gate id, or the members' ids and wire positions
    bool channel = false;                   // a noise channel (one op, never fused, no diagonal wire)
    bool fused() const { return ops.size() > 1; }
};


class FusedCircuit {
public:
    // With fuse=false every op is its own unit.
    explicit FusedCircuit(const Circuit& c, bool fuse = true);

    const Circuit& circuit() const { return circuit_; }
    const std::vector<Unit>& units() const { return units_; }
    int n_fused() const { return n_fused_; }  // units holding more than one op

    // Full 2^k x 2^k matrix (row-major) of unit u at a row's angles (the circuit's angle vector); for a
    // channel its 4^k x 4^k superoperator (contraction.hpp).
    std::vector<cplx> matrix(int u, const double* angles) const;
    // d matrix / d(each parameter of each member, in order): n_params matrices of 2^k x 2^k, concatenated
    // (a channel: of its superoperator).
    std::vector<cplx> dmatrices(int u, const double* angles) const;

private:
    const Circuit& circuit_;
    std::vector<Unit> units_;
    int n_fused_ = 0;
};

}  // namespace pyqml::tn
