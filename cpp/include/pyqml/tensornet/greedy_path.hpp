#pragma once
// A greedy contraction path for networks with hyperedges, in C++ because it runs once per cone structure
// and wide QAOA or 2-D circuits have thousands of structures. Each round contracts the pair sharing an
// index whose result grows memory least: size(result) - size(a) - size(b), the usual greedy rule
// (opt_einsum's default), with every index of dimension 2. Disconnected parts are joined smallest first.
#include <vector>

#include "pyqml/tensornet/contraction.hpp"

namespace pyqml::tn {

std::vector<Step> greedy_path(const std::vector<std::vector<int>>& labels);

}  // namespace pyqml::tn
