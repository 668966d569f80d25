#pragma once
// The network of one cone structure, <0|U^dag P U|0>, as leaves with index labels:
//
//   |0> --[U_1]--[U_2]-- ... --[P]-- ... --[U_2^dag]--[U_1^dag]-- <0|      (one line per local wire)
//
// A gate acting diagonally on a wire (controls, diagonal gates) keeps that wire's index (a hyperedge);
// otherwise it opens a new index. An I or Z on a wire joins the ket and bra ends (Z as a diagonal leaf).
#include <vector>

#include "pyqml/tensornet/contraction.hpp"
#include "pyqml/tensornet/executor.hpp"

namespace pyqml::tn {

std::vector<Leaf> build_network(const Structure& s);

// Leaves (build_network) and a greedy contraction path: a complete plan without any Python.
std::shared_ptr<ContractionPlan> greedy_plan(const Structure& s);

}  // namespace pyqml::tn
