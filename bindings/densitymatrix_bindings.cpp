// pyqml._core.DensityMatrix: batched density-matrix execution of noisy circuits, adjoint gradients.
#include <pybind11/complex.h>

#include <cmath>

#include "convert.hpp"
#include "pyqml/densitymatrix/simulator.hpp"

namespace pyqml::bind {

namespace {
void check_dm_wires(const char* call, const std::vector<int>& wires, int n) {
    PYQML_REQUIRE(wires.size() <= size_t(n), std::string(call) + ": " + std::to_string(wires.size()) +
                                                 " wires on a register of " + std::to_string(n));
    std::vector<char> seen(size_t(n), 0);
    for (int w : wires) {
        PYQML_REQUIRE(w >= 0 && w < n, std::string(call) + ": wire " + std::to_string(w) + " out of range");
        PYQML_REQUIRE(!seen[size_t(w)], std::string(call) + ": wire " + std::to_string(w) + " listed twice");
        seen[size_t(w)] = 1;
    }
}
}  // namespace

void init_densitymatrix(py::module_& m) {
    using dm::Simulator;
    m.attr("DM_MAX_WIRES") = dm::kMaxWires;
    py::class_<Simulator> cls(m, "DensityMatrix", "A circuit (with noise channels) and its observables compiled "
                                                  "for the density-matrix method.");
    cls.def(py::init([](const Circuit& c, const std::vector<std::vector<TermTuple>>& obs, const std::string& precision) {
                return std::make_unique<Simulator>(c, make_observables(obs), parse_precision(precision));
            }),
            py::arg("circuit"), py::arg("observables"), py::arg("precision") = "complex128");
    def_batched_calls(cls);
    cls.def("estimate_bytes", &Simulator::estimate_bytes, py::arg("measurement"), py::arg("rows") = 1,
            "Bytes of the density matrices (and gradient checkpoints) a call needs.")
        .def("var", [](const Simulator& s, const py::object& w, const py::object& x) {
            auto a = make_batch(s.circuit(), w, x);
            ResultReservation results(doubles(double(a.rows) * s.n_observables()),
                                      rows_what("var", a.rows, "rows x n_obs doubles"));
            py::array_t<double> out(Shape{a.rows, s.n_observables()});
            double* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.var(to_batch(a), o);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs") = py::none(), "Variances, shape (rows, n_obs).")
        .def("angle_jacobian", [](const Simulator& s, const py::object& w, const py::object& x) {
            auto a = make_batch(s.circuit(), w, x);
            const py::ssize_t no = s.n_observables(), na = s.circuit().n_angles();
            ResultReservation results(doubles(double(a.rows) * no * (1.0 + na)),
                                      rows_what("angle_jacobian", a.rows, "rows x n_obs x (1 + n_angles) doubles"));
            py::array_t<double> vals(Shape{a.rows, no});
            py::array_t<double> da(Shape{a.rows, no, na});
            double *pv = vals.mutable_data(), *pa = da.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.angle_jacobian(to_batch(a), pv, pa);
            }
            return py::make_tuple(vals, da);
        }, py::arg("weights"), py::arg("inputs") = py::none(),
           "values (rows, n_obs) and d/d(every op parameter, in angle order) (rows, n_obs, n_angles).")
        .def("density_matrix", [](const Simulator& s, const py::object& w, const py::object& x) {
            auto a = make_batch(s.circuit(), w, x);
            const int n = s.circuit().n_wires();
            const py::ssize_t dim = py::ssize_t(1) << n;
            ResultReservation results(double(a.rows) * double(dim) * double(dim) * sizeof(cplx),
                                      rows_what("density_matrix", a.rows, "rows x 2^n x 2^n complex128"));
            py::array_t<cplx> out(Shape{a.rows, dim, dim});
            cplx* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.density_matrix(to_batch(a), o);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs") = py::none(), "Density matrices, shape (rows, 2^n, 2^n).")
        .def("probs", [](const Simulator& s, const py::object& w, const py::object& x, std::vector<int> wires) {
            auto a = make_batch(s.circuit(), w, x);
            check_dm_wires("probs", wires, s.circuit().n_wires());
            const double k = std::ldexp(1.0, int(wires.size()));
            ResultReservation results(doubles(double(a.rows) * k),
                                      rows_what("probs", a.rows, "rows x 2^" + std::to_string(wires.size()) + " doubles"));
            py::array_t<double> out(Shape{a.rows, py::ssize_t(1) << wires.size()});
            double* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.probs(to_batch(a), wires, o);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs"), py::arg("wires"), "Marginal probabilities (rows, 2^k).")
        .def("sample", [](const Simulator& s, const py::object& w, const py::object& x, std::vector<int> wires,
                          int64_t shots, uint64_t seed) {
            auto a = make_batch(s.circuit(), w, x);
            PYQML_REQUIRE(shots >= 1, "shots must be a positive integer");
            check_dm_wires("sample", wires, s.circuit().n_wires());
            ResultReservation results(double(a.rows) * double(shots) * double(wires.size()),
                                      rows_what("sample", a.rows, "rows x shots x " + std::to_string(wires.size()) + " bytes"));
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
