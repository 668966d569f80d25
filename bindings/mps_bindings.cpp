// pyqml._core.MPS: the matrix-product-state method. Every call returns its results and the truncation
// info per row (rows x 4: discarded weight, fidelity estimate, error bound, largest bond).
#include <pybind11/complex.h>

#include "convert.hpp"
#include "pyqml/mps/mps.hpp"

namespace pyqml::bind {

namespace {

void check_wires(const char* call, const std::vector<int>& wires, int n) {
    std::vector<char> seen(size_t(n), 0);
    for (int w : wires) {
        PYQML_REQUIRE(w >= 0 && w < n, std::string(call) + ": wire " + std::to_string(w) + " out of range");
        PYQML_REQUIRE(!seen[size_t(w)], std::string(call) + ": wire " + std::to_string(w) + " listed twice");
        seen[size_t(w)] = 1;
    }
}

py::array_t<double> info_array(int64_t rows) { return py::array_t<double>(Shape{rows, mps::kInfoFields}); }

}  // namespace

void init_mps(py::module_& m) {
    using mps::Engine;
    py::class_<Engine> cls(m, "MPS", "A circuit and its observables compiled for the matrix-product-state method.");
    cls.def(py::init([](const Circuit& c, const std::vector<std::vector<TermTuple>>& obs, const std::string& precision,
                        int max_bond, double cutoff, bool relative) {
                mps::Options o;
                o.max_bond = max_bond;
                o.cutoff = cutoff;
                o.relative = relative;
                return std::make_unique<Engine>(c, make_observables(obs), parse_precision(precision), o);
            }),
            py::arg("circuit"), py::arg("observables"), py::arg("precision") = "complex128", py::arg("max_bond") = 0,
            py::arg("cutoff") = 0.0, py::arg("relative") = true)
        .def_property_readonly("n_observables", &Engine::n_observables)
        .def_property_readonly("n_blocks", [](const Engine& e) { return e.program().size(); })
        .def("bond_bounds", &Engine::bond_bounds, "Upper bound of each bond's dimension (n - 1 bonds).")
        .def("row_bytes", &Engine::row_bytes, py::arg("gradient") = false, "Estimated peak bytes of one row.")
        .def("forward_macs", &Engine::forward_macs, "Estimated complex multiply-adds of one row's forward pass.")
        .def("expval", [](const Engine& e, const py::object& w, const py::object& x) {
            auto a = make_batch(e.circuit(), w, x);
            ResultReservation res(doubles(double(a.rows) * (e.n_observables() + mps::kInfoFields)),
                                  rows_what("expval", a.rows, "rows x n_obs doubles"));
            py::array_t<double> out(Shape{a.rows, e.n_observables()});
            auto info = info_array(a.rows);
            double *o = out.mutable_data(), *pi = info.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.expval(to_batch(a), o, pi);
            }
            return py::make_tuple(out, info);
        }, py::arg("weights"), py::arg("inputs") = py::none())
        .def("expval_angles", [](const Engine& e, darray angles) {
            const Circuit& c = e.circuit();
            PYQML_REQUIRE(angles.ndim() == 2 && angles.shape(1) == c.n_angles(),
                          "angles must have shape (rows, " + std::to_string(c.n_angles()) + ")");
            Batch b;
            b.angles = angles.data();
            b.rows = angles.shape(0);
            py::array_t<double> out(Shape{b.rows, e.n_observables()});
            auto info = info_array(b.rows);
            double *o = out.mutable_data(), *pi = info.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.expval(b, o, pi);
            }
            return py::make_tuple(out, info);
        }, py::arg("angles"))
        .def("jacobian", [](const Engine& e, const py::object& w, const py::object& x) {
            const Circuit& c = e.circuit();
            auto a = make_batch(c, w, x);
            const py::ssize_t no = e.n_observables();
            ResultReservation res(doubles(double(a.rows) * no * (1.0 + c.n_weights() + c.n_inputs())),
                                  rows_what("jacobian", a.rows, "rows x n_obs x (1 + n_weights + n_inputs) doubles"));
            py::array_t<double> vals(Shape{a.rows, no}), dw(Shape{a.rows, no, c.n_weights()}),
                dx(Shape{a.rows, no, c.n_inputs()});
            auto info = info_array(a.rows);
            double *pv = vals.mutable_data(), *pw = dw.mutable_data(), *px = dx.mutable_data(), *pi = info.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.jacobian(to_batch(a), pv, pw, px, pi);
            }
            return py::make_tuple(vals, dw, dx, info);
        }, py::arg("weights"), py::arg("inputs") = py::none())
        .def("vjp", [](const Engine& e, const py::object& w, const py::object& x, darray cot) {
            const Circuit& c = e.circuit();
            auto a = make_batch(c, w, x);
            VjpResults r(c, a, e.n_observables(), cot, true);
            auto info = info_array(a.rows);
            double* pi = info.mutable_data();
            const double* pc = cot.data();
            {
                py::gil_scoped_release nogil;
                e.vjp(to_batch(a), pc, r.pv, r.pw, r.px, pi);
            }
            return py::make_tuple(r.vals, r.dw, r.dx, info);
        }, py::arg("weights"), py::arg("inputs"), py::arg("cotangent"))
        .def("probs", [](const Engine& e, const py::object& w, const py::object& x, std::vector<int> wires) {
            auto a = make_batch(e.circuit(), w, x);
            check_wires("probs", wires, e.n_wires());
            PYQML_REQUIRE(wires.size() <= 24, "mps probs: at most 24 wires, got " + std::to_string(wires.size()));
            ResultReservation res(doubles(double(a.rows) * std::ldexp(1.0, int(wires.size()))),
                                  rows_what("probs", a.rows, "rows x 2^" + std::to_string(wires.size()) + " doubles"));
            py::array_t<double> out(Shape{a.rows, py::ssize_t(1) << wires.size()});
            auto info = info_array(a.rows);
            double *o = out.mutable_data(), *pi = info.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.probs(to_batch(a), wires, o, pi);
            }
            return py::make_tuple(out, info);
        }, py::arg("weights"), py::arg("inputs"), py::arg("wires"))
        .def("sample", [](const Engine& e, const py::object& w, const py::object& x, std::vector<int> wires,
                          int64_t shots, uint64_t seed) {
            auto a = make_batch(e.circuit(), w, x);
            PYQML_REQUIRE(shots >= 1, "shots must be a positive integer");
            check_wires("sample", wires, e.n_wires());
            ResultReservation res(double(a.rows) * double(shots) * double(wires.size()),
                                  rows_what("sample", a.rows, "rows x shots x k bytes"));
            py::array_t<int8_t> out(Shape{a.rows, shots, py::ssize_t(wires.size())});
            auto info = info_array(a.rows);
            int8_t* o = out.mutable_data();
            double* pi = info.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.sample(to_batch(a), wires, shots, seed, o, pi);
            }
            return py::make_tuple(out, info);
        }, py::arg("weights"), py::arg("inputs"), py::arg("wires"), py::arg("shots"), py::arg("seed"))
        .def("amplitude", [](const Engine& e, const py::object& w, const py::object& x, std::vector<int> bits) {
            auto a = make_batch(e.circuit(), w, x);
            PYQML_REQUIRE(int(bits.size()) == e.n_wires(), "amplitude: " + std::to_string(e.n_wires()) + " bits needed");
            for (int v : bits) PYQML_REQUIRE(v == 0 || v == 1, "amplitude: bits must be 0 or 1");
            py::array_t<cplx> out(Shape{a.rows});
            auto info = info_array(a.rows);
            cplx* o = out.mutable_data();
            double* pi = info.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.amplitude(to_batch(a), bits, o, pi);
            }
            return py::make_tuple(out, info);
        }, py::arg("weights"), py::arg("inputs"), py::arg("bits"))
        .def("entropies", [](const Engine& e, const py::object& w, const py::object& x) {
            auto a = make_batch(e.circuit(), w, x);
            py::array_t<double> out(Shape{a.rows, std::max(0, e.n_wires() - 1)});
            auto info = info_array(a.rows);
            double *o = out.mutable_data(), *pi = info.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.entropies(to_batch(a), o, pi);
            }
            return py::make_tuple(out, info);
        }, py::arg("weights"), py::arg("inputs") = py::none())
        .def("overlaps", [](const Engine& e, const py::object& wa, const py::object& xa, const py::object& wb,
                            const py::object& xb) {
            auto a = make_batch(e.circuit(), wa, xa);
            auto b = make_batch(e.circuit(), wb, xb);
            ResultReservation res(double(a.rows) * double(b.rows) * sizeof(cplx),
                                  rows_what("overlaps", a.rows * b.rows, "rows_a x rows_b complex128"));
            py::array_t<cplx> out(Shape{a.rows, b.rows});
            auto info = info_array(a.rows + b.rows);
            cplx* o = out.mutable_data();
            double* pi = info.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.overlaps(to_batch(a), to_batch(b), o, pi);
            }
            return py::make_tuple(out, info);
        }, py::arg("weights_a"), py::arg("inputs_a"), py::arg("weights_b"), py::arg("inputs_b"),
           "<phi(a_i)|phi(b_j)> (rows_a, rows_b) and the info of the rows of a then b.");
}

}  // namespace pyqml::bind
