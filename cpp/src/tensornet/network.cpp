#include "pyqml/tensornet/network.hpp"

#include <atomic>
#include <exception>
#include <new>
#include <string>
#include <unordered_map>

#include "pyqml/common/errors.hpp"

#include "pyqml/common/threads.hpp"
#include "pyqml/tensornet/greedy_path.hpp"

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

namespace pyqml::tn {

namespace {

// The labels of one gate's tensor on the lines `cur` (the current index of each wire), advancing them: a
// wire on which the gate acts diagonally keeps its index, any other gets a new one (labels [new, old] per
// wire). New labels are counter, counter + stride, ... (stride 2 interleaves the ket and bra halves).
std::vector<int> gate_labels(const StructGate& g, const std::vector<int>& wires, std::vector<int>& cur, int& counter,
                             int stride) {
    std::vector<int> labels;
    for (size_t a = 0; a < wires.size(); ++a) {
        const int w = wires[a];
        if (g.diagonal[a]) {
            labels.push_back(cur[w]);
        } else {
            labels.insert(labels.end(), {counter, cur[w]});
            cur[w] = counter;
            counter += stride;
        }
    }
    return labels;
}

}  // namespace

std::vector<Leaf> build_network(const Structure& s) {
    const int n = s.n_wires;
    int counter = 0;
    std::vector<int> ket(n), bra(n);
    for (int w = 0; w < n; ++w) ket[w] = counter++;
    for (int w = 0; w < n; ++w) bra[w] = counter++;
    std::vector<Leaf> leaves;
    for (int w = 0; w < n; ++w) leaves.push_back({LeafKind::Zero, -1, 'I', {ket[w]}});
    for (int w = 0; w < n; ++w) leaves.push_back({LeafKind::Zero, -1, 'I', {bra[w]}});
    // Wires whose last index-changing tensor is a channel: its ket and bra outputs are one tensor's indices, so an I or Z
    // there cannot join them by aliasing (that would repeat an index of the channel's tensor); a 2x2 I or Z
    // leaf [bra, ket] closes the wire instead.
    std::vector<char> ends_in_channel(n, 0);
    for (size_t j = 0; j < s.gates.size(); ++j) {
        // (a gate diagonal on the wire keeps its labels, so the channel's outputs stay the wire's ends)
        for (size_t a = 0; a < s.gate_wires[j].size(); ++a)
            if (s.gates[j].channel || !s.gates[j].diagonal[a]) ends_in_channel[s.gate_wires[j][a]] = s.gates[j].channel;
        if (s.gates[j].channel) {
            // One superoperator tensor: [ko, ki] per ket line, then [bo, bi] per bra line (contraction.hpp).
            std::vector<int> labels;
            for (int w : s.gate_wires[j]) {
                labels.insert(labels.end(), {counter, ket[w]});
                ket[w] = counter++;
            }
            for (int w : s.gate_wires[j]) {
                labels.insert(labels.end(), {counter, bra[w]});
                bra[w] = counter++;
            }
            leaves.push_back({LeafKind::KetGate, static_cast<int>(j), 'I', std::move(labels)});
            continue;
        }
        // The ket and bra copies open the same wires; their new labels alternate (ket first).
        int kc = counter, bc = counter + 1;
        std::vector<int> kl = gate_labels(s.gates[j], s.gate_wires[j], ket, kc, 2);
        std::vector<int> bl = gate_labels(s.gates[j], s.gate_wires[j], bra, bc, 2);
        counter = kc;
        leaves.push_back({LeafKind::KetGate, static_cast<int>(j), 'I', std::move(kl)});
        leaves.push_back({LeafKind::BraGate, static_cast<int>(j), 'I', std::move(bl)});
    }
    std::unordered_map<int, int> alias;
    for (int w = 0; w < n; ++w) {
        const char p = s.letters[w];
        if (ends_in_channel[w]) {
            leaves.push_back({LeafKind::Pauli, -1, p, {bra[w], ket[w]}});
        } else if (p == 'I' || p == 'Z') {
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

std::vector<Leaf> build_amplitude_network(int n_wires, const std::vector<StructGate>& gates,
                                          const std::vector<std::vector<int>>& gate_wires, const std::vector<int>& bits) {
    PYQML_REQUIRE(gates.size() == gate_wires.size(), "amplitude network: one wire list per gate");
    PYQML_REQUIRE(static_cast<int>(bits.size()) == n_wires,
                  "bits must be " + std::to_string(n_wires) + " values of 0 or 1, got " + std::to_string(bits.size()));
    std::vector<int> ket(n_wires);
    int counter = 0;
    for (int w = 0; w < n_wires; ++w) ket[w] = counter++;
    std::vector<Leaf> leaves;
    leaves.reserve(2 * n_wires + gates.size());
    for (int w = 0; w < n_wires; ++w) leaves.push_back({LeafKind::Zero, -1, 'I', {ket[w]}});
    for (size_t j = 0; j < gates.size(); ++j) {
        PYQML_REQUIRE(!gates[j].channel, "an amplitude <b|U|0> is not defined for a circuit with noise channels ('" +
                                             gates[j].name + "'): use expectation values or probabilities");
        for (int w : gate_wires[j])
            PYQML_REQUIRE(w >= 0 && w < n_wires, "gate " + std::to_string(j) + ": wire " + std::to_string(w) +
                                                     " out of range for " + std::to_string(n_wires) + " wires");
        PYQML_REQUIRE(static_cast<int>(gate_wires[j].size()) == gates[j].n_wires,
                      "gate " + std::to_string(j) + ": needs " + std::to_string(gates[j].n_wires) + " wires");
        leaves.push_back({LeafKind::KetGate, static_cast<int>(j), 'I', gate_labels(gates[j], gate_wires[j], ket, counter, 1)});
    }
    for (int w = 0; w < n_wires; ++w) {
        PYQML_REQUIRE(bits[w] == 0 || bits[w] == 1, "bits must be 0 or 1, got " + std::to_string(bits[w]));
        leaves.push_back({bits[w] ? LeafKind::One : LeafKind::Zero, -1, 'I', {ket[w]}});
    }
    return leaves;
}

std::vector<Leaf> build_amplitude_network(const Circuit& c, const std::vector<int>& bits) {
    c.require_no_channels("tensornet");
    std::vector<StructGate> gates;
    std::vector<std::vector<int>> wires;
    for (const Op& op : c.ops()) {
        gates.push_back(struct_gate(op.gate, static_cast<int>(op.wires.size())));
        wires.push_back(op.wires);
    }
    return build_amplitude_network(c.n_wires(), gates, wires, bits);
}

namespace {
std::shared_ptr<ContractionPlan> greedy(std::vector<StructGate> gates, std::vector<Leaf> leaves) {
    std::vector<std::vector<int>> labels;
    labels.reserve(leaves.size());
    for (const Leaf& l : leaves) labels.push_back(l.labels);
    return std::make_shared<ContractionPlan>(std::move(gates), std::move(leaves), greedy_path(labels));
}
}  // namespace

std::shared_ptr<ContractionPlan> greedy_plan(const Structure& s) { return greedy(s.gates, build_network(s)); }

std::vector<std::shared_ptr<ContractionPlan>> greedy_plans(const Executor& ex, const std::vector<int>& structures,
                                                          double refuse_bytes, int elem_bytes) {
    const int n = static_cast<int>(structures.size());
    for (int s : structures)
        PYQML_REQUIRE(s >= 0 && s < ex.n_structures(), "structure index " + std::to_string(s) + " out of range");
    std::vector<std::shared_ptr<ContractionPlan>> plans(n);
    // The first position (in list order) that failed or is over refuse_bytes: later ones are skipped, as a
    // loop planning one structure after another would have stopped there.
    std::atomic<int> stop(n);
    auto lower_stop = [&](int i) {
        int cur = stop.load();
        while (i < cur && !stop.compare_exchange_weak(cur, i)) {
        }
    };
#pragma omp parallel for schedule(dynamic, 1) if (n > 1 && max_threads() > 1)
    for (int i = 0; i < n; ++i) {
        if (i > stop.load()) continue;
        try {
            auto p = greedy_plan(ex.structure(structures[i]));
            if (p->bytes_per_thread(elem_bytes, false) + p->table_bytes() > refuse_bytes) lower_stop(i);
            plans[i] = std::move(p);
        } catch (...) {  // left empty: the caller plans it again on its own, meeting the error there
            lower_stop(i);
        }
    }
    for (int i = stop.load() + 1; i < n; ++i) plans[i].reset();
    return plans;
}

std::shared_ptr<ContractionPlan> greedy_amplitude_plan(const Circuit& c, const std::vector<int>& bits) {
    c.require_no_channels("tensornet");
    std::vector<StructGate> gates;
    for (const Op& op : c.ops()) gates.push_back(struct_gate(op.gate, static_cast<int>(op.wires.size())));
    return greedy(std::move(gates), build_amplitude_network(c, bits));
}

}  // namespace pyqml::tn
