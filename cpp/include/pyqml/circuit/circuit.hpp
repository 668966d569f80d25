#pragma once
// The circuit IR: structure fixed at compile time, numbers bound per call.
//
// Every gate parameter is a ParamRef:  value = scale * source[index] + offset, where source is the weight
// vector (Weight), the current input row (Input), or nothing (Const: value = offset). Binding a weight
// vector and one input row yields the flat vector of gate angles ("angles"), one entry per gate parameter
// in circuit order.
#include <vector>

#include "pyqml/common/types.hpp"
#include "pyqml/gates/channel_table.hpp"
#include "pyqml/gates/gate_table.hpp"

namespace pyqml {

struct ParamRef {
    enum Kind : int { Const = 0, Weight = 1, Input = 2 };
    Kind kind = Const;
    int index = 0;
    double scale = 1.0;
    double offset = 0.0;
};

// A gate, or a noise channel when `channel` is set (then `gate` is unused and the parameters are the
// channel's, bound like gate angles: they take their place in the angle vector).
struct Op {
    gates::GateId gate = gates::GateId::I;
    std::vector<int> wires;
    std::vector<ParamRef> params;
    // QubitUnitary: row-major 2^k x 2^k. PauliError: the Pauli word's matrix. QubitChannel: the Kraus list,
    // K x 2^k x 2^k.
    std::vector<cplx> unitary;
    gates::ChannelId channel = gates::ChannelId::None;
    bool is_channel() const { return channel != gates::ChannelId::None; }
    // The gate's or channel's name and parameter count.
    const char* name() const;
    int n_params() const;
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
    // True when some op is a noise channel; the ops that are, in circuit order.
    bool has_channels() const { return !channel_ops_.empty(); }
    const std::vector<int>& channel_ops() const { return channel_ops_; }
    // Throws InvalidInput for a method without noise support when the circuit has channels, naming the
    // first channel and the method.
    void require_no_channels(const char* method) const;
    // Offset of op i's first parameter in the angle vector.
    int angle_offset(size_t op) const { return angle_offset_[op]; }

    // angles[p] for one row; throws InvalidInput on a NaN or infinite result, naming the op, and on channel
    // parameters outside their channel's bounds.
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
    std::vector<int> channel_ops_;
};

}  // namespace pyqml
