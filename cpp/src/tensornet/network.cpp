#include "pyqml/tensornet/network.hpp"

#include <unordered_map>

#include "pyqml/tensornet/greedy_path.hpp"

namespace pyqml::tn {

std::vector<Leaf> build_network(const Structure& s) {
    const int n = s.n_wires;
    int counter = 0;
    std::vector<int> ket(n), bra(n);
    for (int w = 0; w < n; ++w) ket[w] = counter++;
    for (int w = 0; w < n; ++w) bra[w] = counter++;
    std::vector<Leaf> leaves;
    for (int w = 0; w < n; ++w) leaves.push_back({LeafKind::Zero, -1, 'I', {ket[w]}});
    for (int w = 0; w < n; ++w) leaves.push_back({LeafKind::Zero, -1, 'I', {bra[w]}});
    for (size_t j = 0; j < s.gates.size(); ++j) {
        std::vector<int> kl, bl;
        const auto& wires = s.gate_wires[j];
        for (size_t a = 0; a < wires.size(); ++a) {
            const int w = wires[a];
            if (s.gates[j].diagonal[a]) {
                kl.push_back(ket[w]);
                bl.push_back(bra[w]);
            } else {
                const int o = counter++, ob = counter++;
                kl.insert(kl.end(), {o, ket[w]});
                bl.insert(bl.end(), {ob, bra[w]});
                ket[w] = o;
                bra[w] = ob;
            }
        }
        leaves.push_back({LeafKind::KetGate, static_cast<int>(j), 'I', kl});
        leaves.push_back({LeafKind::BraGate, static_cast<int>(j), 'I', bl});
    }
    std::unordered_map<int, int> alias;
    for (int w = 0; w < n; ++w) {
        const char p = s.letters[w];
        if (p == 'I' || p == 'Z') {
            alias[bra[w]] = ket[w];
            if (p == 'Z') leaves.push_back({LeafKind::PauliDiag, -1, 'Z', {ket[w]}});
        } else {
            leaves.push_back({LeafKind::Pauli, -1, p, {bra[w], ket[w]}});
        }
    }
    for (Leaf& l : leaves)
        for (int& x : l.labels) {
            auto it = alias.find(x);
            if (it != alias.end()) x = it->second;
        }
    return leaves;
}

std::shared_ptr<ContractionPlan> greedy_plan(const Structure& s) {
    std::vector<Leaf> leaves = build_network(s);
    std::vector<std::vector<int>> labels;
    labels.reserve(leaves.size());
    for (const Leaf& l : leaves) labels.push_back(l.labels);
    return std::make_shared<ContractionPlan>(s.gates, std::move(leaves), greedy_path(labels));
}

}  // namespace pyqml::tn
