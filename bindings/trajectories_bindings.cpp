// pyqml._core.Trajectories: the trajectories (Monte Carlo wave function) method, batched over rows and
// trajectories, with standard errors.
#include "convert.hpp"
#include "pyqml/trajectories/trajectories.hpp"

namespace pyqml::bind {

void init_trajectories(py::module_& m) {
    py::class_<traj::Trajectories> cls(m, "Trajectories",
                                       "A noisy circuit and its observables compiled for the trajectories method.");
    cls.def(py::init([](const Circuit& c, const std::vector<std::vector<TermTuple>>& obs, const std::string& precision) {
                return std::make_unique<traj::Trajectories>(c, make_observables(obs), parse_precision(precision));
            }),
            py::arg("circuit"), py::arg("observables"), py::arg("precision") = "complex128")
        .def_property_readonly("n_observables", &traj::Trajectories::n_observables)
        .def_property_readonly("n_channels", &traj::Trajectories::n_channels)
        .def("estimated_bytes", &traj::Trajectories::estimated_bytes, py::arg("rows"), py::arg("trajectories"),
             py::arg("gradients"))
        .def("expval", [](const traj::Trajectories& e, const py::object& w, const py::object& x, int64_t n,
                          uint64_t seed) {
            auto a = make_batch(e.circuit(), w, x);
            const py::ssize_t no = e.n_observables();
            ResultReservation results(doubles(2.0 * a.rows * no), rows_what("expval", a.rows, "2 x rows x n_obs doubles"));
            py::array_t<double> mean(Shape{a.rows, no}), se(Shape{a.rows, no});
            double *pm = mean.mutable_data(), *ps = se.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.expval(to_batch(a), n, seed, pm, ps);
            }
            return py::make_tuple(mean, se);
        }, py::arg("weights"), py::arg("inputs"), py::arg("trajectories"), py::arg("seed"),
           "(mean, standard error), each (rows, n_obs), over `trajectories` trajectories per row.")
        .def("jacobian", [](const traj::Trajectories& e, const py::object& w, const py::object& x, int64_t n,
                            uint64_t seed) {
            const Circuit& c = e.circuit();
            auto a = make_batch(c, w, x);
            const py::ssize_t no = e.n_observables();
            ResultReservation results(doubles(2.0 * a.rows * no * (1.0 + c.n_weights() + c.n_inputs())),
                                      rows_what("jacobian", a.rows, "2 x rows x n_obs x (1 + n_weights + n_inputs) doubles"));
            py::array_t<double> mean(Shape{a.rows, no}), se(Shape{a.rows, no});
            py::array_t<double> dw(Shape{a.rows, no, c.n_weights()}), dw_se(Shape{a.rows, no, c.n_weights()});
            py::array_t<double> dx(Shape{a.rows, no, c.n_inputs()}), dx_se(Shape{a.rows, no, c.n_inputs()});
            double *pm = mean.mutable_data(), *ps = se.mutable_data(), *pw = dw.mutable_data(),
                   *pws = dw_se.mutable_data(), *px = dx.mutable_data(), *pxs = dx_se.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.jacobian(to_batch(a), n, seed, pm, ps, pw, px, pws, pxs);
            }
            return py::make_tuple(py::make_tuple(mean, dw, dx), py::make_tuple(se, dw_se, dx_se));
        }, py::arg("weights"), py::arg("inputs"), py::arg("trajectories"), py::arg("seed"),
           "((values, d/dweights, d/dinputs), (their standard errors)): trajectory means, shapes as jacobian.");
}

}  // namespace pyqml::bind
