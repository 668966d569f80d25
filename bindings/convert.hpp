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
#include "pyqml/common/batch.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
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
Batch to_batch(const BatchArrays& a);
// "complex128" (or "double") and "complex64" (or "single").
Precision parse_precision(const std::string& name);

using Shape = std::vector<py::ssize_t>;

// Bytes of `count` doubles, in double arithmetic (no integer overflow for absurd batches).
inline double doubles(double count) { return count * double(sizeof(double)); }
// "jacobian of 3 rows x 2 observables": what a reservation names.
inline std::string rows_what(const char* call, int64_t rows, const std::string& shape) {
    return std::string(call) + " results for " + std::to_string(rows) + " row(s) (" + shape + ")";
}

// The result arrays of a VJP on the batch `a` (values (rows, n_obs); the weight gradients (n_weights,), or
// (rows, n_weights) for weights per row; the input gradients (rows, n_inputs) when need_dx), reserved against
// the memory limit before they are allocated, after the cotangent's shape (rows, n_obs) was checked. Take the
// pointers with the GIL held; result() is the call's return value.
struct VjpResults {
    VjpResults(const Circuit& c, const BatchArrays& a, py::ssize_t no, const darray& cot, bool with_dx)
        : need_dx(checked(cot, a.rows, no, with_dx)),
          reservation(doubles(double(a.rows) * (no + (need_dx ? c.n_inputs() : 0)) +
                              (a.weights_per_row ? double(a.rows) : 1.0) * c.n_weights()),
                      rows_what("vjp", a.rows, "rows x (n_obs + n_inputs) and the weight gradients, doubles")),
          vals(Shape{a.rows, no}),
          dw(a.weights_per_row ? py::array_t<double>(Shape{a.rows, c.n_weights()})
                               : py::array_t<double>(Shape{c.n_weights()})),
          dx(Shape{need_dx ? a.rows : 0, c.n_inputs()}),
          pv(vals.mutable_data()), pw(dw.mutable_data()), px(need_dx ? dx.mutable_data() : nullptr) {}

    py::tuple result() const { return py::make_tuple(vals, dw, need_dx ? py::object(dx) : py::object(py::none())); }

    bool need_dx;
    ResultReservation reservation;
    py::array_t<double> vals, dw, dx;
    double *pv, *pw, *px;

private:
    static bool checked(const darray& cot, int64_t rows, py::ssize_t no, bool need_dx) {
        PYQML_REQUIRE(cot.ndim() == 2 && cot.shape(0) == rows && cot.shape(1) == no,
                      "cotangent must have shape (" + std::to_string(rows) + ", " + std::to_string(no) + ")");
        return need_dx;
    }
};

// The batched calls every method's engine offers (expval, expval_angles, jacobian, vjp), bound the same
// way for each: arrays in, arrays out, the GIL released while the engine works. Engine needs circuit(),
// n_observables(), expval(Batch, out), jacobian(Batch, vals, dw, dx), vjp(Batch, cot, vals, dw, dx).
template <class Engine, class... Extra>
void def_batched_calls(py::class_<Engine, Extra...>& cls) {
    cls.def_property_readonly("n_observables", &Engine::n_observables)
        .def("expval", [](const Engine& e, const py::object& w, const py::object& x) {
            auto a = make_batch(e.circuit(), w, x);
            const double n = double(a.rows) * e.n_observables();
            ResultReservation results(doubles(n), rows_what("expval", a.rows, "rows x n_obs doubles"));
            py::array_t<double> out(Shape{a.rows, e.n_observables()});
            double* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.expval(to_batch(a), o);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs") = py::none(), "Expectation values, shape (rows, n_obs).")
        .def("expval_angles", [](const Engine& e, darray angles) {
            const Circuit& c = e.circuit();
            PYQML_REQUIRE(angles.ndim() == 2 && angles.shape(1) == c.n_angles(),
                          "angles must have shape (rows, " + std::to_string(c.n_angles()) + ")");
            Batch b;
            b.angles = angles.data();
            b.rows = angles.shape(0);
            ResultReservation results(doubles(double(b.rows) * e.n_observables()),
                                      rows_what("expval", b.rows, "rows x n_obs doubles"));
            py::array_t<double> out(Shape{b.rows, e.n_observables()});
            double* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.expval(b, o);
            }
            return out;
        }, py::arg("angles"), "Expectation values for explicit gate angles (rows, n_angles).")
        .def("jacobian", [](const Engine& e, const py::object& w, const py::object& x) {
            const Circuit& c = e.circuit();
            auto a = make_batch(c, w, x);
            const py::ssize_t no = e.n_observables();
            ResultReservation results(doubles(double(a.rows) * no * (1.0 + c.n_weights() + c.n_inputs())),
                                      rows_what("jacobian", a.rows, "rows x n_obs x (1 + n_weights + n_inputs) doubles"));
            py::array_t<double> vals(Shape{a.rows, no});
            py::array_t<double> dw(Shape{a.rows, no, c.n_weights()});
            py::array_t<double> dx(Shape{a.rows, no, c.n_inputs()});
            double *pv = vals.mutable_data(), *pw = dw.mutable_data(), *px = dx.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.jacobian(to_batch(a), pv, pw, px);
            }
            return py::make_tuple(vals, dw, dx);
        }, py::arg("weights"), py::arg("inputs") = py::none(),
           "values (rows, n_obs), d/dweights (rows, n_obs, n_weights), d/dinputs (rows, n_obs, n_inputs).")
        .def("vjp", [](const Engine& e, const py::object& w, const py::object& x, darray cot, bool need_dx) {
            const Circuit& c = e.circuit();
            auto a = make_batch(c, w, x);
            VjpResults r(c, a, e.n_observables(), cot, need_dx);
            const double* pc = cot.data();
            {
                py::gil_scoped_release nogil;
                e.vjp(to_batch(a), pc, r.pv, r.pw, r.px);
            }
            return r.result();
        }, py::arg("weights"), py::arg("inputs"), py::arg("cotangent"), py::arg("need_dx") = true,
           "values, cot . d/dweights (summed over rows unless weights are per row), cot . d/dinputs (rows, n_inputs); "
           "need_dx=False: the input gradients are not computed and dx is None.");
}

void init_statevector(py::module_& m);
void init_tensornet(py::module_& m);
void init_mps(py::module_& m);

void init_channels(py::module_& m);
void init_densitymatrix(py::module_& m);

void init_trajectories(py::module_& m);
void init_training(py::module_& m);

}  // namespace pyqml::bind
