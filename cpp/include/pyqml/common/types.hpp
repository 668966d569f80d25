#pragma once
#include <complex>
#include <cstddef>
#include <cstdint>

namespace pyqml {

using cplx = std::complex<double>;
using index_t = std::uint64_t;

// Wire w of an n-wire register is bit (n - 1 - w) of a basis index: wire 0 is the most significant bit,
// as in PennyLane.
inline int bit_of_wire(int n_wires, int wire) { return n_wires - 1 - wire; }

}  // namespace pyqml
