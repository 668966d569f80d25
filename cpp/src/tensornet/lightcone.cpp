#include "pyqml/tensornet/lightcone.hpp"

#include <algorithm>
#include <queue>

#include "pyqml/common/errors.hpp"

namespace pyqml::tn {

LightCones::LightCones(const FusedCircuit& f) : fused_(f) {
    const auto& ops = f.units();
    const Circuit& c = f.circuit();
    wire_ops_.resize(c.n_wires());
    pos_.resize(ops.size());
    for (size_t g = 0; g < ops.size(); ++g) {
        for (int w : ops[g].wires) {
            pos_[g].push_back(static_cast<int>(wire_ops_[w].size()));
            wire_ops_[w].push_back(static_cast<int>(g));
        }
    }
    op_stamp_.assign(ops.size(), 0);
    wire_stamp_.assign(c.n_wires(), 0);
    local_.assign(c.n_wires(), -1);
    clean_.assign(c.n_wires(), 0);
}

Cone LightCones::cone(const std::vector<int>& wires, const std::string& letters) {
    PYQML_REQUIRE(wires.size() == letters.size(), "a Pauli word needs one letter per wire");
    const auto& ops = fused_.units();
    const Circuit& circuit = fused_.circuit();
    const int s = ++stamp_;
    Cone cone;
    std::priority_queue<int> heap;
    auto activate = [&](int w, bool clean) {
        wire_stamp_[w] = s;
        clean_[w] = clean;
        local_[w] = static_cast<int>(cone.wires.size());
        cone.wires.push_back(w);
    };
    for (size_t i = 0; i < wires.size(); ++i) {
        const int w = wires[i];
        const char p = letters[i];
        PYQML_REQUIRE(w >= 0 && w < circuit.n_wires(),
                      "observable wire " + std::to_string(w) + " is out of range for " +
                          std::to_string(circuit.n_wires()) + " wires");
        PYQML_REQUIRE(p == 'X' || p == 'Y' || p == 'Z' || p == 'I',
                      std::string("Pauli letters are I, X, Y, Z; got '") + p + "'");
        PYQML_REQUIRE(wire_stamp_[w] != s, "observable wire " + std::to_string(w) + " is repeated");
        if (p == 'I') continue;
        activate(w, p == 'Z');
        cone.letters.push_back(p);
        if (!wire_ops_[w].empty()) heap.push(wire_ops_[w].back());
    }
    std::vector<int> rev;
    while (!heap.empty()) {
        const int g = heap.top();
        heap.pop();
        if (op_stamp_[g] == s) continue;
        op_stamp_[g] = s;
        const Unit& op = ops[g];
        bool keep = false;
        for (size_t j = 0; j < op.wires.size(); ++j) {
            const int w = op.wires[j];
            if (wire_stamp_[w] == s && !(clean_[w] && op.diagonal[j])) keep = true;
        }
        if (keep) {
            rev.push_back(g);
            for (size_t j = 0; j < op.wires.size(); ++j) {
                const int w = op.wires[j];
                const bool d = op.diagonal[j];
                if (wire_stamp_[w] != s) activate(w, d);
                else clean_[w] = clean_[w] && d;
            }
        }
        for (size_t j = 0; j < op.wires.size(); ++j) {
            const int w = op.wires[j];
            if (wire_stamp_[w] == s && pos_[g][j] > 0) heap.push(wire_ops_[w][pos_[g][j] - 1]);
        }
    }
    cone.units.assign(rev.rbegin(), rev.rend());
    for (int u : cone.units) cone.ops.insert(cone.ops.end(), ops[u].ops.begin(), ops[u].ops.end());
    cone.letters.resize(cone.wires.size(), 'I');
    // Key: letters, then per unit its key (gate id, or a block's members) and local wires (QubitUnitary's
    // matrix is a value, not structure).
    std::string& key = cone.key;
    key.reserve(cone.letters.size() + 4 * cone.units.size());
    key += std::to_string(cone.wires.size());
    key += ':';
    key += cone.letters;
    for (int g : cone.units) {
        key += '|';
        key += ops[g].key;
        for (int w : ops[g].wires) {
            key += ',';
            key += std::to_string(local_[w]);
        }
    }
    return cone;
}

}  // namespace pyqml::tn
