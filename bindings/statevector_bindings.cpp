// pyqml._core.StateVector: batched state-vector execution and adjoint gradients.
#include <pybind11/complex.h>

#include "convert.hpp"
#include "pyqml/statevector/simulator.hpp"

namespace pyqml::bind {

namespace {

sv::Batch to_batch(const BatchArrays& a) {
    sv::Batch b;
    b.weights = a.weights.data();
    b.weights_per_row = a.weights_per_row;
    b.inputs = a.has_inputs ? a.inputs.data() : nullptr;
    b.rows = a.rows;
    return b;
}

using Shape = std::vector<py::ssize_t>;

}  // namespace

void init_statevector(py::module_& m) {
    py::class_<sv::Simulator>(m, "StateVector",
                              "A circuit and its observables compiled for the state-vector method.")
        .def(py::init([](const Circuit& c, const std::vector<std::vector<TermTuple>>& obs, const std::string& precision) {
                 sv::Precision p;
                 if (precision == "double" || precision == "complex128") p = sv::Precision::Double;
                 else if (precision == "single" || precision == "complex64") p = sv::Precision::Single;
                 else throw InvalidInput("precision must be 'complex128' or 'complex64', got '" + precision + "'");
                 return std::make_unique<sv::Simulator>(c, make_observables(obs), p);
             }),
             py::arg("circuit"), py::arg("observables"), py::arg("precision") = "complex128")
        .def_property_readonly("n_observables", &sv::Simulator::n_observables)
        .def("expval", [](const sv::Simulator& s, const py::object& w, const py::object& x) {
            auto a = make_batch(s.program().circuit(), w, x);
            py::array_t<double> out(Shape{a.rows, s.n_observables()});
            double* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.expval(to_batch(a), o);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs") = py::none(), "Expectation values, shape (rows, n_obs).")
        .def("var", [](const sv::Simulator& s, const py::object& w, const py::object& x) {
            auto a = make_batch(s.program().circuit(), w, x);
            py::array_t<double> out(Shape{a.rows, s.n_observables()});
            double* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.var(to_batch(a), o);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs") = py::none(), "Variances, shape (rows, n_obs).")
        .def("expval_angles", [](const sv::Simulator& s, darray angles) {
            const Circuit& c = s.program().circuit();
            PYQML_REQUIRE(angles.ndim() == 2 && angles.shape(1) == c.n_angles(),
                          "angles must have shape (rows, " + std::to_string(c.n_angles()) + ")");
            sv::Batch b;
            b.angles = angles.data();
            b.rows = angles.shape(0);
            py::array_t<double> out(Shape{b.rows, s.n_observables()});
            double* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.expval(b, o);
            }
            return out;
        }, py::arg("angles"), "Expectation values for explicit gate angles (rows, n_angles).")
        .def("jacobian", [](const sv::Simulator& s, const py::object& w, const py::object& x) {
            const Circuit& c = s.program().circuit();
            auto a = make_batch(c, w, x);
            const py::ssize_t no = s.n_observables();
            py::array_t<double> vals(Shape{a.rows, no});
            py::array_t<double> dw(Shape{a.rows, no, c.n_weights()});
            py::array_t<double> dx(Shape{a.rows, no, c.n_inputs()});
            double *pv = vals.mutable_data(), *pw = dw.mutable_data(), *px = dx.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.jacobian(to_batch(a), pv, pw, px);
            }
            return py::make_tuple(vals, dw, dx);
        }, py::arg("weights"), py::arg("inputs") = py::none(),
           "Adjoint Jacobian: values (rows, n_obs), d/dweights (rows, n_obs, n_weights), d/dinputs (rows, n_obs, n_inputs).")
        .def("vjp", [](const sv::Simulator& s, const py::object& w, const py::object& x, darray cot) {
            const Circuit& c = s.program().circuit();
            auto a = make_batch(c, w, x);
            const py::ssize_t no = s.n_observables();
            PYQML_REQUIRE(cot.ndim() == 2 && cot.shape(0) == a.rows && cot.shape(1) == no,
                          "cotangent must have shape (" + std::to_string(a.rows) + ", " + std::to_string(no) + ")");
            py::array_t<double> vals(Shape{a.rows, no});
            py::array_t<double> dw = a.weights_per_row ? py::array_t<double>(Shape{a.rows, c.n_weights()})
                                                       : py::array_t<double>(Shape{c.n_weights()});
            py::array_t<double> dx(Shape{a.rows, c.n_inputs()});
            double *pv = vals.mutable_data(), *pw = dw.mutable_data(), *px = dx.mutable_data();
            const double* pc = cot.data();
            {
                py::gil_scoped_release nogil;
                s.vjp(to_batch(a), pc, pv, pw, px);
            }
            return py::make_tuple(vals, dw, dx);
        }, py::arg("weights"), py::arg("inputs"), py::arg("cotangent"),
           "Vector-Jacobian product: values, cot . d/dweights (summed over rows), cot . d/dinputs (rows, n_inputs).")
        .def("state", [](const sv::Simulator& s, const py::object& w, const py::object& x) {
            auto a = make_batch(s.program().circuit(), w, x);
            const py::ssize_t size = py::ssize_t(1) << s.program().n_wires();
            py::array_t<cplx> out(Shape{a.rows, size});
            cplx* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.state(to_batch(a), o);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs") = py::none(), "State vectors, shape (rows, 2^n).")
        .def("probs", [](const sv::Simulator& s, const py::object& w, const py::object& x, std::vector<int> wires) {
            auto a = make_batch(s.program().circuit(), w, x);
            py::array_t<double> out(Shape{a.rows, py::ssize_t(1) << wires.size()});
            double* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.probs(to_batch(a), wires, o);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs"), py::arg("wires"), "Marginal probabilities (rows, 2^k).")
        .def("sample", [](const sv::Simulator& s, const py::object& w, const py::object& x, std::vector<int> wires,
                          int64_t shots, uint64_t seed) {
            auto a = make_batch(s.program().circuit(), w, x);
            PYQML_REQUIRE(shots >= 1, "shots must be a positive integer");
            py::array_t<int8_t> out(Shape{a.rows, shots, py::ssize_t(wires.size())});
            int8_t* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.sample(to_batch(a), wires, shots, seed, o);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs"), py::arg("wires"), py::arg("shots"), py::arg("seed"),
           "Computational-basis samples (rows, shots, k) of 0/1; row r uses seed + r.");
}

}  // namespace pyqml::bind
