// pyqml._core's view of the channel table: every channel's description, Kraus operators, their
// derivatives and superoperators (for the Python channel classes, noise models and tests).
#include <pybind11/complex.h>

#include "convert.hpp"
#include "pyqml/gates/channel_table.hpp"

namespace pyqml::bind {

namespace {

using carray = py::array_t<cplx, py::array::c_style | py::array::forcecast>;

struct ChannelArgs {
    gates::ChannelId id;
    int n_wires;
    std::vector<cplx> data;
};

// Resolves name, parameters and data (PauliError: the word's matrix; QubitChannel: the Kraus list).
ChannelArgs channel_args(const std::string& name, const std::vector<double>& params, const py::object& data,
                         int n_wires) {
    auto id = gates::channel_by_name(name);
    if (!id) throw InvalidInput("unknown channel '" + name + "'");
    const auto& spec = gates::channel_spec(*id);
    PYQML_REQUIRE(static_cast<int>(params.size()) == spec.n_params,
                  name + " takes " + std::to_string(spec.n_params) + " parameter(s), got " +
                      std::to_string(params.size()));
    ChannelArgs a{*id, n_wires, {}};
    if (spec.has_data) {
        PYQML_REQUIRE(!data.is_none(), name + " needs its matrix data");
        auto arr = carray::ensure(data);
        if (!arr) throw InvalidInput(name + ": data is not a complex array");
        a.data.assign(arr.data(), arr.data() + arr.size());
        if (a.n_wires <= 0) {
            // d x d (PauliError) or K x d x d (QubitChannel): the last axis is d.
            const py::ssize_t d = arr.ndim() >= 1 ? arr.shape(arr.ndim() - 1) : 0;
            a.n_wires = d == 2 ? 1 : d == 4 ? 2 : 0;
        }
    } else if (a.n_wires <= 0) {
        a.n_wires = spec.n_wires;
    }
    gates::channel_wire_count(a.id, a.n_wires, a.data.size());
    gates::check_channel_data(a.id, a.n_wires, a.data.data(), a.data.size());
    return a;
}

py::array_t<cplx> as_kraus_array(const std::vector<cplx>& v, int n_wires) {
    const py::ssize_t d = py::ssize_t(1) << n_wires;
    const py::ssize_t k = static_cast<py::ssize_t>(v.size()) / (d * d);
    py::array_t<cplx> out(Shape{k, d, d});
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

}  // namespace

void init_channels(py::module_& m) {
    m.def("channel_table", [] {
        py::list out;
        for (const auto& c : gates::all_channels()) {
            py::dict d;
            d["name"] = c.name;
            d["n_wires"] = c.n_wires;
            d["n_params"] = c.n_params;
            d["n_kraus"] = c.n_kraus;
            d["has_data"] = c.has_data;
            py::list names;
            std::string s = c.param_names;
            size_t start = 0;
            while (!s.empty() && start <= s.size()) {
                size_t comma = s.find(',', start);
                if (comma == std::string::npos) comma = s.size();
                names.append(s.substr(start, comma - start));
                start = comma + 1;
            }
            d["param_names"] = names;
            d["bounds"] = c.bounds;
            d["unital"] = c.unital;
            out.append(d);
        }
        return out;
    }, "Every noise channel the engine knows: name, n_wires (-1: 1 or 2, from its data), n_params, n_kraus "
       "(-1: from its data), has_data, param_names (PennyLane's), bounds, unital.");

    m.def("channel_kraus", [](const std::string& name, std::vector<double> params, const py::object& data,
                              int n_wires) {
        auto a = channel_args(name, params, data, n_wires);
        return as_kraus_array(gates::kraus_matrices(a.id, a.n_wires, params.data(), a.data.data(), a.data.size()),
                              a.n_wires);
    }, py::arg("name"), py::arg("params"), py::arg("data") = py::none(), py::arg("n_wires") = 0,
       "Kraus operators (K, d, d) of a channel at these parameters (checked against its bounds).");

    m.def("channel_dkraus", [](const std::string& name, std::vector<double> params, int k, const py::object& data,
                               int n_wires) {
        auto a = channel_args(name, params, data, n_wires);
        return as_kraus_array(
            gates::kraus_dmatrices(a.id, a.n_wires, params.data(), k, a.data.data(), a.data.size()), a.n_wires);
    }, py::arg("name"), py::arg("params"), py::arg("k"), py::arg("data") = py::none(), py::arg("n_wires") = 0,
       "d K_j / d params[k] for every Kraus operator K_j, shape (K, d, d).");

    m.def("channel_superoperator", [](const std::string& name, std::vector<double> params, const py::object& data,
                                      int n_wires, bool derivatives) {
        auto a = channel_args(name, params, data, n_wires);
        const py::ssize_t D = py::ssize_t(1) << (2 * a.n_wires);
        const int np_ = gates::channel_spec(a.id).n_params;
        py::array_t<cplx> S(Shape{D, D});
        py::array_t<cplx> dS(Shape{py::ssize_t(np_), D, D});
        gates::superoperator(a.id, a.n_wires, params.data(), a.data.data(), a.data.size(), S.mutable_data(),
                             derivatives ? dS.mutable_data() : nullptr);
        if (!derivatives) return py::object(S);
        return py::object(py::make_tuple(S, dS));
    }, py::arg("name"), py::arg("params"), py::arg("data") = py::none(), py::arg("n_wires") = 0,
       py::arg("derivatives") = false,
       "Superoperator S = sum_k K_k (x) conj(K_k) (d^2, d^2), vec(E(rho)) = S vec(rho) with vec row-major; with "
       "derivatives=True also dS/dparams (n_params, d^2, d^2).");
}

}  // namespace pyqml::bind
