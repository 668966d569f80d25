#pragma once
// Observables: real-weighted sums of Pauli strings.
#include <string>
#include <vector>

#include "pyqml/common/types.hpp"

namespace pyqml {

struct PauliTerm {
    double coeff = 1.0;
    std::vector<int> wires;
    std::string paulis;  // one of 'I', 'X', 'Y', 'Z' per wire
};

struct Observable {
    std::vector<PauliTerm> terms;
};

// A Pauli string on at most 64 wires as bit masks: P|i> = phase * (-1)^popcount(i & zmask) |i ^ xmask>,
// phase = coeff * i^(number of Y). X and Y set xmask, Y and Z set zmask.
struct PauliMasks {
    index_t xmask = 0;
    index_t zmask = 0;
    cplx phase = 1.0;
};

// Validates wires against n_wires (range, repeats, letters) and throws InvalidInput.
std::vector<PauliMasks> compile_observable(const Observable& obs, int n_wires);

}  // namespace pyqml
