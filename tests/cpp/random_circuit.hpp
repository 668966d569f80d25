#pragma once
// Shared test inputs: a random circuit over every gate of the table, and a Pauli-sum observable with
// X, Y and Z terms.
#include <algorithm>
#include <random>
#include <vector>

#include "dense_reference.hpp"
#include "pyqml/circuit/circuit.hpp"
#include "pyqml/observables/pauli.hpp"

namespace pyqml::test {

// A random circuit on n wires using every gate of the table (QubitUnitary with a fixed unitary, MultiRZ on
// all n wires), all angles trainable weights.
inline Circuit random_circuit(int n, std::mt19937_64& rng, int repeats = 2) {
    using gates::GateId;
    std::vector<Op> ops;
    int nw = 0;
    std::uniform_int_distribution<int> wire(0, n - 1);
    for (int rep = 0; rep < repeats; ++rep)
        for (const auto& g : gates::all_gates()) {
            int k = g.n_wires > 0 ? g.n_wires : (g.id == GateId::MultiRZ ? n : 2);
            if (k > n) continue;
            Op op;
            op.gate = g.id;
            while (static_cast<int>(op.wires.size()) < k) {
                int w = wire(rng);
                if (std::find(op.wires.begin(), op.wires.end(), w) == op.wires.end()) op.wires.push_back(w);
            }
            for (int p = 0; p < g.n_params; ++p) op.params.push_back({ParamRef::Weight, nw++, 1.0, 0.0});
            if (g.id == GateId::QubitUnitary) {
                // (H x RY(0.4)) CNOT: unitary, not diagonal, not controlled.
                const double t = 0.4;
                auto cx = gates::full_matrix(GateId::CNOT, 2, nullptr);
                auto ry = gates::full_matrix(GateId::RY, 1, &t);
                auto h = gates::full_matrix(GateId::H, 1, nullptr);
                cvec hr(16);
                for (int r = 0; r < 4; ++r)
                    for (int c = 0; c < 4; ++c) hr[r * 4 + c] = h[(r >> 1) * 2 + (c >> 1)] * ry[(r & 1) * 2 + (c & 1)];
                op.unitary.assign(16, 0.0);
                for (int r = 0; r < 4; ++r)
                    for (int c = 0; c < 4; ++c)
                        for (int m = 0; m < 4; ++m) op.unitary[r * 4 + c] += hr[r * 4 + m] * cx[m * 4 + c];
            }
            ops.push_back(op);
        }
    return Circuit(n, ops, nw, 0);
}

// 0.7 Z_0 Z_{n-1} - 0.4 X_1 + 0.25 Y_0 X_1
inline Observable zz_plus_x(int n) {
    Observable o;
    o.terms.push_back({0.7, {0, n - 1}, "ZZ"});
    o.terms.push_back({-0.4, {1}, "X"});
    o.terms.push_back({0.25, {0, 1}, "YX"});
    return o;
}

}  // namespace pyqml::test
