#pragma once
// The circuit IR: structure fixed at compile time, numbers bound per call.
//
// Every gate parameter is a ParamRef:  value = scale * source[index] + offset, where source is the weight
// vector (Weight), the current input row (Input), or nothing (Const: value = offset). Binding a weight
// vector and one input row yields the flat vector of gate angles ("angles"), one entry per gate parameter
// in circuit order.
#include <vector>

#include "pyqml/common/types.hpp"
#include "pyqml/gates/gate_table.hpp"

namespace pyqml {

struct ParamRef {
    enum Kind : int { Const = 0, Weight = 1, Input = 2 };
    Kind kind = Const;
    int index = 0;
    double scale = 1.0;
    double offset = 0.0;
};

struct Op {
    gates::GateId gate;
    std::vector<int> wires;
    std::vector<ParamRef> params;
    std::vector<cplx> unitary;  // QubitUnitary only: row-major 2^k x 2^k
};

class Circuit {
public:
    // Validates every op (wire range, repeats, parameter counts, unitarity) and throws InvalidInput.
    Circuit(int n_wires, std::vector<Op> ops, int n_weights, int n_inputs);

    int n_wires() const { return n_wires_; }
    int n_weights() const { return n_weights_; }
    int n_inputs() const { return n_inputs_; }
    int n_angles() const { return n_angles_; }
    const std::vector<Op>& ops() const { return ops_; }
    // Offset of op i's first parameter in the angle vector.
    int angle_offset(size_t op) const { return angle_offset_[op]; }

    // angles[p] for one row; throws InvalidInput on a NaN or infinite result, naming the op.
    void bind(const double* weights, const double* inputs_row, double* angles) const;

    // Chain rule from d/d(angles) to d/d(weights) and d/d(inputs): accumulates into dw and dx
    // (either may be null).
    void chain(const double* d_angles, double* dw, double* dx) const;

private:
    int n_wires_;
    std::vector<Op> ops_;
    int n_weights_;
    int n_inputs_;
    int n_angles_ = 0;
    std::vector<int> angle_offset_;
    std::vector<ParamRef> flat_params_;
};

}  // namespace pyqml
