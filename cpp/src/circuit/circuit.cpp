#include "pyqml/circuit/circuit.hpp"

#include <cmath>
#include <string>

#include "pyqml/common/errors.hpp"

namespace pyqml {

namespace {
std::string op_label(size_t i, const Op& op) {
    return "op " + std::to_string(i) + " (" + op.name() + ")";
}
}  // namespace

const char* Op::name() const {
    return is_channel() ? gates::channel_spec(channel).name : gates::gate_spec(gate).name;
}

int Op::n_params() const {
    return is_channel() ? gates::channel_spec(channel).n_params : gates::gate_spec(gate).n_params;
}

void Circuit::require_no_channels(const char* method) const {
    if (channel_ops_.empty()) return;
    const int i = channel_ops_.front();
    throw InvalidInput(std::string("method '") + method + "' does not simulate noise channels (" +
                       op_label(size_t(i), ops_[i]) + "); run noisy circuits with a method that supports noise");
}

Circuit::Circuit(int n_wires, std::vector<Op> ops, int n_weights, int n_inputs)
    : n_wires_(n_wires), ops_(std::move(ops)), n_weights_(n_weights), n_inputs_(n_inputs) {
    PYQML_REQUIRE(n_wires >= 1, "a circuit needs at least one wire, got " + std::to_string(n_wires));
    PYQML_REQUIRE(n_weights >= 0 && n_inputs >= 0, "negative parameter count");
    angle_offset_.reserve(ops_.size());
    for (size_t i = 0; i < ops_.size(); ++i) {
        Op& op = ops_[i];
        const int n_params = op.n_params();
        const std::string label = op_label(i, op);
        try {
            if (op.is_channel()) {
                gates::channel_wire_count(op.channel, static_cast<int>(op.wires.size()), op.unitary.size());
            } else {
                gates::gate_wire_count(op.gate, static_cast<int>(op.wires.size()));
            }
        } catch (const InvalidInput& e) {
            throw InvalidInput(label + ": " + e.what());
        }
        for (size_t a = 0; a < op.wires.size(); ++a) {
            int w = op.wires[a];
            PYQML_REQUIRE(w >= 0 && w < n_wires, label + ": wire " + std::to_string(w) +
                                                     " is out of range for " + std::to_string(n_wires) +
                                                     " wires");
            for (size_t b = 0; b < a; ++b)
                PYQML_REQUIRE(op.wires[b] != w, label + ": wire " + std::to_string(w) + " is repeated");
        }
        PYQML_REQUIRE(static_cast<int>(op.params.size()) == n_params,
                      label + ": takes " + std::to_string(n_params) + " parameter(s), got " +
                          std::to_string(op.params.size()));
        for (const ParamRef& p : op.params) {
            if (p.kind == ParamRef::Weight)
                PYQML_REQUIRE(p.index >= 0 && p.index < n_weights,
                              label + ": weight index " + std::to_string(p.index) + " out of range");
            if (p.kind == ParamRef::Input)
                PYQML_REQUIRE(p.index >= 0 && p.index < n_inputs,
                              label + ": input index " + std::to_string(p.index) + " out of range");
            PYQML_REQUIRE(std::isfinite(p.scale) && std::isfinite(p.offset),
                          label + ": parameter is NaN or infinite");
            flat_params_.push_back(p);
        }
        if (op.is_channel()) {
            channel_ops_.push_back(static_cast<int>(i));
            try {
                gates::check_channel_data(op.channel, static_cast<int>(op.wires.size()), op.unitary.data(),
                                          op.unitary.size());
                // Constant parameters are checked now; weights and inputs when bound.
                bool all_const = true;
                std::vector<double> p;
                for (const ParamRef& r : op.params) {
                    all_const = all_const && r.kind == ParamRef::Const;
                    p.push_back(r.offset);
                }
                if (all_const) gates::check_channel_params(op.channel, p.data());
            } catch (const InvalidInput& e) {
                throw InvalidInput(label + ": " + e.what());
            }
        } else if (op.gate == gates::GateId::QubitUnitary) {
            const size_t dim = size_t(1) << op.wires.size();
            PYQML_REQUIRE(op.unitary.size() == dim * dim,
                          label + ": matrix must be " + std::to_string(dim) + "x" + std::to_string(dim) +
                              " for " + std::to_string(op.wires.size()) + " wire(s)");
            double err = 0.0;
            for (size_t r = 0; r < dim; ++r)
                for (size_t c = 0; c < dim; ++c) {
                    cplx s = 0.0;
                    for (size_t k = 0; k < dim; ++k) s += std::conj(op.unitary[k * dim + r]) * op.unitary[k * dim + c];
                    err = std::max(err, std::abs(s - (r == c ? 1.0 : 0.0)));
                }
            PYQML_REQUIRE(err < 1e-8, label + ": matrix is not unitary (max |U^dag U - 1| = " +
                                          std::to_string(err) + ")");
        }
        angle_offset_.push_back(n_angles_);
        n_angles_ += n_params;
    }
}

void Circuit::bind(const double* weights, const double* inputs_row, double* angles) const {
    for (int p = 0; p < n_angles_; ++p) {
        const ParamRef& r = flat_params_[p];
        double v = r.offset;
        if (r.kind == ParamRef::Weight) v += r.scale * weights[r.index];
        else if (r.kind == ParamRef::Input) v += r.scale * inputs_row[r.index];
        if (!std::isfinite(v)) {
            // Find the op for the message; this is the error path only.
            size_t op = 0;
            while (op + 1 < ops_.size() && angle_offset_[op + 1] <= p) ++op;
            throw InvalidInput(op_label(op, ops_[op]) + ": angle is NaN or infinite (from " +
                               (r.kind == ParamRef::Weight ? "weights[" : r.kind == ParamRef::Input ? "inputs[" : "constant[") +
                               std::to_string(r.index) + "])");
        }
        angles[p] = v;
    }
    for (int i : channel_ops_) {
        const Op& op = ops_[i];
        try {
            gates::check_channel_params(op.channel, angles + angle_offset_[i]);
        } catch (const InvalidInput& e) {
            throw InvalidInput(op_label(size_t(i), op) + ": " + e.what());
        }
    }
}

void Circuit::chain(const double* d_angles, double* dw, double* dx) const {
    for (int p = 0; p < n_angles_; ++p) {
        const ParamRef& r = flat_params_[p];
        if (r.kind == ParamRef::Weight && dw) dw[r.index] += r.scale * d_angles[p];
        else if (r.kind == ParamRef::Input && dx) dx[r.index] += r.scale * d_angles[p];
    }
}

}  // namespace pyqml
