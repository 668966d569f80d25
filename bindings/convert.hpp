#pragma once
// Conversions shared by the binding files: Python descriptions of circuits and observables to the
// engine's structures, and the batch of (weights, inputs) arrays. No numerical work happens here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <vector>

#include "pyqml/circuit/circuit.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/observables/pauli.hpp"

namespace pyqml::bind {

namespace py = pybind11;
using darray = py::array_t<double, py::array::c_style | py::array::forcecast>;

// ops: list of (gate name, wires, [(kind, index, scale, offset), ...], unitary matrix or None)
using OpTuple = std::tuple<std::string, std::vector<int>, std::vector<std::tuple<int, int, double, double>>, py::object>;
Circuit make_circuit(int n_wires, const std::vector<OpTuple>& ops, int n_weights, int n_inputs);

// observables: list of observables, each a list of (coeff, wires, letters)
using TermTuple = std::tuple<double, std::vector<int>, std::string>;
std::vector<Observable> make_observables(const std::vector<std::vector<TermTuple>>& obs);

// A validated view of the binding arrays. weights: (n_weights,) shared, or (rows, n_weights) one set per
// row; inputs: (rows, n_inputs) or None when the circuit has no inputs (then rows = 1, or the weights'
// rows).
struct BatchArrays {
    darray weights;
    darray inputs;
    bool has_inputs = false;
    bool weights_per_row = false;
    int64_t rows = 1;
};
BatchArrays make_batch(const Circuit& c, const py::object& weights, const py::object& inputs);

void init_statevector(py::module_& m);
void init_tensornet(py::module_& m);

}  // namespace pyqml::bind
