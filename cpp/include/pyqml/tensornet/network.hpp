#pragma once
// The network of one cone structure, <0|U^dag P U|0>, as leaves with index labels:
//
//   |0> --[U_1]--[U_2]-- ... --[P]-- ... --[U_2^dag]--[U_1^dag]-- <0|      (one line per local wire)
//
// A gate acting diagonally on a wire (controls, diagonal gates) keeps that wire's index (a hyperedge);
// otherwise it opens a new index. An I or Z on a wire joins the ket and bra ends (Z as a diagonal leaf).
//
// The amplitude network <b|U|0> of a whole circuit is the ket half alone, closed by basis vectors:
//
//   |0> --[U_1]--[U_2]-- ... -- <b_w|      (|1> leaves where b_w = 1)
//
// Both builders label gate tensors with the same rule (gate_labels in network.cpp).
//
// A noise channel is one superoperator tensor joining each of its wires' ket and bra lines (no bra copy):
//
//   ket: --[U]--+-----+--         S[ko, bo, ki, bi] = sum_K K[ko, ki] conj(K[bo, bi])
//               |  S  |           A trace-preserving channel outside the cone drops out (E^dag(I) = I),
//   bra: --[U*]-+-----+--         as a unitary does; inside it, it is never treated as diagonal.
//
// Amplitude networks refuse channels (a mixed state has no amplitudes).
#include <vector>

#include "pyqml/tensornet/contraction.hpp"
#include "pyqml/tensornet/executor.hpp"

namespace pyqml::tn {

std::vector<Leaf> build_network(const Structure& s);

// Leaves of <b|U|0>: |0> per wire (labels 0..n-1), ket gate j = gates[j] on gate_wires[j] (new labels in
// order), then per wire |0> or |1> for bits[w].
std::vector<Leaf> build_amplitude_network(int n_wires, const std::vector<StructGate>& gates,
                                          const std::vector<std::vector<int>>& gate_wires, const std::vector<int>& bits);
// The same for a circuit's ops (gate j = op j).
std::vector<Leaf> build_amplitude_network(const Circuit& c, const std::vector<int>& bits);

// Leaves (build_network) and a greedy contraction path: a complete plan without any Python.
std::shared_ptr<ContractionPlan> greedy_plan(const Structure& s);
// greedy_plan of each listed structure of an executor, spread over threads (structures are independent). A
// structure whose plan fails (any error) or whose forward workspace and tables (bytes_per_thread(elem_bytes,
// false) + table_bytes) exceed refuse_bytes ends the batch there, as a one-by-one loop would: the failed
// one and all after it are left empty (nullptr), an oversized one is kept.
std::vector<std::shared_ptr<ContractionPlan>> greedy_plans(const Executor& ex, const std::vector<int>& structures,
                                                          double refuse_bytes, int elem_bytes);
std::shared_ptr<ContractionPlan> greedy_amplitude_plan(const Circuit& c, const std::vector<int>& bits);

}  // namespace pyqml::tn
