// pyqml._core: the engine as seen from Python. Thin: converts arguments, releases the GIL, calls C++.
#include <pybind11/complex.h>

#include <cmath>

#include "convert.hpp"

#include "pyqml/common/memory.hpp"
#include "pyqml/common/threads.hpp"
#include "pyqml/gates/gate_table.hpp"
#include "pyqml/statevector/simulator.hpp"

namespace pyqml::bind {

Circuit make_circuit(int n_wires, const std::vector<OpTuple>& ops, int n_weights, int n_inputs) {
    std::vector<Op> out;
    out.reserve(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
        const auto& [name, wires, params, unitary] = ops[i];
        Op op;
        if (auto id = gates::gate_by_name(name)) {
            op.gate = *id;
        } else if (auto ch = gates::channel_by_name(name)) {
            op.channel = *ch;
        } else {
            throw InvalidInput("op " + std::to_string(i) + ": unknown gate '" + name + "' (no gate or channel has that name)");
        }
        op.wires = wires;
        for (const auto& [kind, index, scale, offset] : params) {
            PYQML_REQUIRE(kind >= 0 && kind <= 2, "bad parameter kind");
            op.params.push_back({static_cast<ParamRef::Kind>(kind), index, scale, offset});
        }
        if (!unitary.is_none()) {
            auto u = py::array_t<cplx, py::array::c_style | py::array::forcecast>::ensure(unitary);
            // (QubitChannel's Kraus list arrives as K x d x d; PauliError's word as d x d.)
            if (!u) throw InvalidInput("op " + std::to_string(i) + ": matrix is not a complex array");
            op.unitary.assign(u.data(), u.data() + u.size());
        }
        out.push_back(std::move(op));
    }
    return Circuit(n_wires, std::move(out), n_weights, n_inputs);
}

std::vector<Observable> make_observables(const std::vector<std::vector<TermTuple>>& obs) {
    std::vector<Observable> out;
    for (const auto& terms : obs) {
        Observable o;
        for (const auto& [coeff, wires, letters] : terms) o.terms.push_back({coeff, wires, letters});
        out.push_back(std::move(o));
    }
    return out;
}

Batch to_batch(const BatchArrays& a) {
    Batch b;
    b.weights = a.weights.data();
    b.weights_per_row = a.weights_per_row;
    b.inputs = a.has_inputs ? a.inputs.data() : nullptr;
    b.rows = a.rows;
    return b;
}

Precision parse_precision(const std::string& name) {
    if (name == "complex128" || name == "double") return Precision::Double;
    if (name == "complex64" || name == "single") return Precision::Single;
    throw InvalidInput("precision must be 'complex128' or 'complex64', got '" + name + "'");
}

BatchArrays make_batch(const Circuit& c, const py::object& weights, const py::object& inputs) {
    BatchArrays b;
    b.weights = darray::ensure(weights);
    if (!b.weights) throw InvalidInput("weights must be an array of real numbers");
    const int nw = c.n_weights(), nx = c.n_inputs();
    if (b.weights.ndim() == 2) {
        PYQML_REQUIRE(b.weights.shape(1) == nw, "weights have " + std::to_string(b.weights.shape(1)) +
                                                    " columns, the circuit takes " + std::to_string(nw));
        b.weights_per_row = true;
        b.rows = b.weights.shape(0);
    } else {
        PYQML_REQUIRE(b.weights.ndim() == 1 && b.weights.shape(0) == nw,
                      "weights must have shape (" + std::to_string(nw) + ",) or (rows, " + std::to_string(nw) +
                          "), got " + std::to_string(b.weights.size()) + " values in " +
                          std::to_string(b.weights.ndim()) + " dimension(s)");
    }
    if (!inputs.is_none()) {
        b.inputs = darray::ensure(inputs);
        if (!b.inputs) throw InvalidInput("inputs must be an array of real numbers");
        PYQML_REQUIRE(b.inputs.ndim() == 2 && b.inputs.shape(1) == nx,
                      "inputs must have shape (rows, " + std::to_string(nx) + ")");
        if (b.weights_per_row)
            PYQML_REQUIRE(b.inputs.shape(0) == b.rows, "weights and inputs have different numbers of rows");
        b.rows = b.inputs.shape(0);
        b.has_inputs = true;
    } else {
        PYQML_REQUIRE(nx == 0, "the circuit takes " + std::to_string(nx) + " inputs per row, none were given");
    }
    return b;
}

}  // namespace pyqml::bind

namespace py = pybind11;
using namespace pyqml;

PYBIND11_MODULE(_core, m) {
    m.doc() = "pyqml engine: circuits, state-vector and tensor-network execution, adjoint gradients";

    static py::exception<MemoryLimitExceeded> mem_exc(m, "MemoryLimitError", PyExc_MemoryError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const MemoryLimitExceeded& e) {
            py::set_error(mem_exc, e.what());
        } catch (const InvalidInput& e) {
            py::set_error(PyExc_ValueError, e.what());
        }
    });

    m.def("gate_table", [] {
        py::list out;
        for (const auto& g : gates::all_gates()) {
            py::dict d;
            d["name"] = g.name;
            d["n_wires"] = g.n_wires;
            d["n_params"] = g.n_params;
            d["n_controls"] = g.n_controls;
            d["diagonal"] = g.diagonal;
            d["shift_rule"] = static_cast<int>(g.shift_rule);
            d["block_pattern"] = g.block_pattern;
            // Per-wire diagonality (fixed-width gates; MultiRZ and QubitUnitary: tn_diagonal_on_wire).
            if (g.n_wires > 0) {
                py::list dw;
                for (int j = 0; j < g.n_wires; ++j) dw.append(gates::diagonal_on_wire(g.id, j));
                d["diagonal_wires"] = dw;
            } else {
                d["diagonal_wires"] = py::none();
            }
            py::list gens;
            for (const auto& terms : g.generators) {
                py::list ts;
                for (const auto& t : terms) ts.append(py::make_tuple(t.coeff, std::string(t.paulis)));
                gens.append(ts);
            }
            d["generators"] = gens;
            out.append(d);
        }
        return out;
    }, "Every gate the engine knows: name, wire and parameter counts, controls, diagonal flag, shift rule, "
       "block_pattern (structural nonzeros of the target block), diagonal_wires, and generators (per parameter, "
       "[(coeff, Pauli letters per wire)], U = exp(-i theta G) up to a phase; one letter for every wire of MultiRZ).");

    m.def("gate_pattern", [](const std::string& name, int n_wires) {
        auto id = gates::gate_by_name(name);
        if (!id) throw InvalidInput("unknown gate '" + name + "'");
        if (n_wires <= 0) n_wires = gates::gate_spec(*id).n_wires;
        auto p = gates::full_pattern(*id, n_wires);
        const py::ssize_t dim = py::ssize_t(1) << n_wires;
        py::array_t<bool> out({dim, dim});
        std::copy(p.begin(), p.end(), out.mutable_data());
        return out;
    }, py::arg("name"), py::arg("n_wires") = 0,
       "Structural nonzero pattern of a gate's full matrix (True where an entry may be nonzero for some angles).");

    m.def("gate_matrix", [](const std::string& name, std::vector<double> params, int n_wires) {
        auto id = gates::gate_by_name(name);
        if (!id) throw InvalidInput("unknown gate '" + name + "'");
        const auto& g = gates::gate_spec(*id);
        PYQML_REQUIRE(static_cast<int>(params.size()) == g.n_params, name + " takes " + std::to_string(g.n_params) + " parameter(s)");
        if (n_wires <= 0) n_wires = g.n_wires;
        auto full = gates::full_matrix(*id, n_wires, params.data());
        const py::ssize_t dim = py::ssize_t(1) << n_wires;
        py::array_t<cplx> out({dim, dim});
        std::copy(full.begin(), full.end(), out.mutable_data());
        return out;
    }, py::arg("name"), py::arg("params"), py::arg("n_wires") = 0, "Full matrix of a gate (controls included).");

    m.def("gate_dmatrix", [](const std::string& name, std::vector<double> params, int k, int n_wires) {
        auto id = gates::gate_by_name(name);
        if (!id) throw InvalidInput("unknown gate '" + name + "'");
        const auto& g = gates::gate_spec(*id);
        PYQML_REQUIRE(static_cast<int>(params.size()) == g.n_params, name + " takes " + std::to_string(g.n_params) + " parameter(s)");
        if (n_wires <= 0) n_wires = g.n_wires;
        auto full = gates::full_dmatrix(*id, n_wires, params.data(), k);
        const py::ssize_t dim = py::ssize_t(1) << n_wires;
        py::array_t<cplx> out({dim, dim});
        std::copy(full.begin(), full.end(), out.mutable_data());
        return out;
    }, py::arg("name"), py::arg("params"), py::arg("k"), py::arg("n_wires") = 0,
       "Derivative of a gate's full matrix with respect to parameter k.");

    m.def("set_memory_limit", &set_memory_limit, py::arg("bytes"),
          "Cap every method's estimated peak memory (bytes); 0 restores the default (80% of available RAM).");
    m.def("memory_limit", &memory_limit_bytes, "The memory limit in bytes that plans are checked against.");
    m.def("_all_finite", [](const py::args& arrays) {
        // The warm qnode call's finiteness check of its weights and data, in one call (no NaN or infinity);
        // false on anything that is not an array of real numbers (the caller then takes the general path).
        for (const py::handle& h : arrays) {
            auto a = bind::darray::ensure(h);
            if (!a) {
                PyErr_Clear();
                return false;
            }
            const double* p = a.data();
            for (py::ssize_t i = 0, n = a.size(); i < n; ++i)
                if (!std::isfinite(p[i])) return false;
        }
        return true;
    }, "Whether every array holds only finite real numbers.");

    py::class_<Circuit>(m, "Circuit")
        .def(py::init(&bind::make_circuit), py::arg("n_wires"), py::arg("ops"), py::arg("n_weights"),
             py::arg("n_inputs"))
        .def_property_readonly("n_wires", &Circuit::n_wires)
        .def_property_readonly("n_weights", &Circuit::n_weights)
        .def_property_readonly("n_inputs", &Circuit::n_inputs)
        .def_property_readonly("n_angles", &Circuit::n_angles)
        .def_property_readonly("has_channels", &Circuit::has_channels)
        .def("bind", [](const Circuit& c, const py::object& weights, const py::object& inputs) {
            auto b = bind::make_batch(c, weights, inputs);
            ResultReservation results(bind::doubles(double(b.rows) * c.n_angles()),
                                      bind::rows_what("bind", b.rows, "rows x n_angles doubles"));
            py::array_t<double> out({py::ssize_t(b.rows), py::ssize_t(c.n_angles())});
            double* o = out.mutable_data();
            const double* w = b.weights.data();
            const double* x = b.has_inputs ? b.inputs.data() : nullptr;
            for (int64_t r = 0; r < b.rows; ++r)
                c.bind(b.weights_per_row ? w + r * c.n_weights() : w, x ? x + r * c.n_inputs() : nullptr,
                       o + r * c.n_angles());
            return out;
        }, py::arg("weights"), py::arg("inputs") = py::none(), "Gate angles (rows, n_angles) for a batch.")
        .def("chain", [](const Circuit& c, bind::darray d_angles) {
            PYQML_REQUIRE(d_angles.ndim() == 1 && d_angles.shape(0) == c.n_angles(), "d_angles must have shape (n_angles,)");
            py::array_t<double> dw(c.n_weights()), dx(c.n_inputs());
            std::fill(dw.mutable_data(), dw.mutable_data() + c.n_weights(), 0.0);
            std::fill(dx.mutable_data(), dx.mutable_data() + c.n_inputs(), 0.0);
            c.chain(d_angles.data(), dw.mutable_data(), dx.mutable_data());
            return py::make_tuple(dw, dx);
        }, "Chain rule from gradients w.r.t. gate angles to (weights, inputs).");

    m.def("max_threads", &sv::max_threads, "OpenMP threads the engine uses.");
    m.def("get_num_threads", &sv::max_threads, "OpenMP threads the engine uses.");
    m.def("set_num_threads", &pyqml::set_num_threads, py::arg("n"),
          "Set the threads the engine uses, for every calling thread (default: OMP_NUM_THREADS or all cores); "
          "at most max_thread_count() (4 x the hardware threads, at most 256), ValueError above.");
    m.def("max_thread_count", &pyqml::max_thread_count, "The most threads set_num_threads accepts.");

    m.attr("SV_MAX_WIRES") = sv::kMaxWires;

    bind::init_statevector(m);
    bind::init_tensornet(m);
    bind::init_mps(m);

    bind::init_channels(m);
    bind::init_densitymatrix(m);

    bind::init_trajectories(m);

    bind::init_training(m);
}
