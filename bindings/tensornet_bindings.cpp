// pyqml._core.TensorNet and pyqml._core.ContractionPlan: the tensor-network method's light cones,
// compiled contraction plans and batched execution with reverse-mode gradients.
#include <pybind11/complex.h>

#include <limits>
#include <memory>

#include "convert.hpp"
#include "pyqml/tensornet/network.hpp"
#include "pyqml/tensornet/executor.hpp"
#include "pyqml/tensornet/greedy_path.hpp"
#include "pyqml/cuda/tensornet_gpu.hpp"

namespace pyqml::bind {

namespace {


using LeafTuple = std::tuple<int, int, std::string, std::vector<int>>;
using StepTuple = std::tuple<int, int, std::vector<int>>;
// A gate: (name, n_wires) for a gate of the table, or (name, n_wires, diagonal flags, n_params) as the
// structure dicts give it (fused blocks, whose name is not in the table).
tn::StructGate make_gate(const py::handle& h) {
    const py::tuple t = py::reinterpret_borrow<py::object>(h).cast<py::tuple>();
    PYQML_REQUIRE(t.size() == 2 || t.size() == 4,
                  "a plan's gate is (name, n_wires) or (name, n_wires, diagonal, n_params)");
    const std::string name = t[0].cast<std::string>();
    const int nw = t[1].cast<int>();
    if (auto ch = gates::channel_by_name(name)) {  // a channel's plan gate spans its ket and bra lines: 2k
        PYQML_REQUIRE(nw >= 2 && nw % 2 == 0, "channel '" + name + "': a plan gate on 2k lines (ket, then bra)");
        const tn::StructGate s = tn::struct_channel(*ch, nw / 2);
        if (t.size() == 4) {
            tn::StructGate g = s;
            g.diagonal.clear();
            for (const auto& d : t[2].cast<py::sequence>()) g.diagonal.push_back(d.cast<bool>());
            g.n_params = t[3].cast<int>();
            PYQML_REQUIRE(g == s, "channel '" + name + "': no line is diagonal, parameter count " +
                                      std::to_string(s.n_params));
        }
        return s;
    }
    auto id = gates::gate_by_name(name);
    if (t.size() == 2) {
        if (!id) throw InvalidInput("unknown gate '" + name + "'");
        return tn::struct_gate(*id, nw);
    }
    tn::StructGate g;
    g.name = name;
    g.n_wires = nw;
    for (const auto& d : t[2].cast<py::sequence>()) g.diagonal.push_back(d.cast<bool>());
    g.n_params = t[3].cast<int>();
    PYQML_REQUIRE(nw >= 1 && static_cast<int>(g.diagonal.size()) == nw,
                  "gate '" + name + "': needs one diagonal flag per wire");
    if (id) {
        PYQML_REQUIRE(g == tn::struct_gate(*id, nw),
                      "gate '" + name + "': diagonal flags or parameter count differ from the gate table");
    } else {
        PYQML_REQUIRE(!name.empty() && name.front() == '[' && nw <= 2,
                      "unknown gate '" + name + "' (a fused block's name is '[member; ...]', on at most 2 wires)");
    }
    return g;
}

std::shared_ptr<tn::ContractionPlan> make_plan(const py::sequence& gates, const std::vector<LeafTuple>& leaves,
                                               const std::vector<StepTuple>& steps,
                                               const std::vector<int>& sliced = {}) {
    std::vector<tn::StructGate> gs;
    for (const auto& g : gates) gs.push_back(make_gate(g));
    std::vector<tn::Leaf> ls;
    for (const auto& [kind, gate, letter, labels] : leaves) {
        PYQML_REQUIRE(kind >= 0 && kind <= 5, "leaf kind must be 0..5");
        tn::Leaf l;
        l.kind = static_cast<tn::LeafKind>(kind);
        l.gate = gate;
        l.letter = letter.empty() ? 'I' : letter[0];
        l.labels = labels;
        ls.push_back(std::move(l));
    }
    std::vector<tn::Step> ss;
    for (const auto& [a, b, keep] : steps) ss.push_back({a, b, keep});
    return std::make_shared<tn::ContractionPlan>(std::move(gs), std::move(ls), std::move(ss), sliced);
}

py::tuple leaf_tuple(const tn::Leaf& l) {
    return py::make_tuple(static_cast<int>(l.kind), l.gate,
                          l.kind == tn::LeafKind::Pauli || l.kind == tn::LeafKind::PauliDiag ? std::string(1, l.letter)
                                                                                             : std::string(),
                          l.labels);
}

py::list leaf_list(const std::vector<tn::Leaf>& leaves) {
    py::list out;
    for (const tn::Leaf& l : leaves) out.append(leaf_tuple(l));
    return out;
}

// Gates in the constructor's argument form: (name, n_wires, diagonal flags, n_params), which also carries
// fused blocks (names not in the table) through a pickle round trip.
py::list gate_list(const std::vector<tn::StructGate>& gates) {
    py::list out;
    for (const tn::StructGate& g : gates) {
        std::vector<bool> diag(g.diagonal.begin(), g.diagonal.end());
        out.append(py::make_tuple(g.name, g.n_wires, diag, g.n_params));
    }
    return out;
}

py::list step_list(const std::vector<tn::Step>& steps) {
    py::list out;
    for (const tn::Step& s : steps) out.append(py::make_tuple(s.a, s.b, s.keep));
    return out;
}

// The plan's definition in the constructor's argument form: (gates, leaves, steps, sliced).
py::tuple plan_state(const tn::ContractionPlan& p) {
    return py::make_tuple(gate_list(p.gates()), leaf_list(p.leaves()), step_list(p.steps()), p.sliced());
}

}  // namespace

void init_tensornet(py::module_& m) {
    py::class_<tn::ContractionPlan, std::shared_ptr<tn::ContractionPlan>>(
        m, "ContractionPlan", "A compiled pairwise contraction tree for one network structure.")
        .def(py::init(&make_plan), py::arg("gates"), py::arg("leaves"), py::arg("steps"),
             py::arg("sliced") = std::vector<int>{},
             "sliced: labels fixed per slice (the plan contracts every slice and adds them); "
             "gates: [(name, n_wires)] or [(name, n_wires, diagonal flags, n_params)] (fused blocks); leaves: [(kind, gate, letter, labels)] with kind 0 ket gate, 1 bra gate, "
             "2 |0>, 3 Pauli matrix [bra, ket], 4 diagonal Z, 5 |1>; steps: [(a, b, kept labels)].")
        .def_property_readonly("forward_macs", &tn::ContractionPlan::forward_macs)
        .def_property_readonly("backward_macs", &tn::ContractionPlan::backward_macs)
        .def_property_readonly("width", &tn::ContractionPlan::width, "log2 of the largest tensor (of one slice).")
        .def_property_readonly("sliced", &tn::ContractionPlan::sliced, "The sliced labels.")
        .def_property_readonly("n_slices", &tn::ContractionPlan::n_slices)
        .def_property_readonly("slice_forward_macs", &tn::ContractionPlan::slice_forward_macs,
                               "Complex multiply-adds of one slice's forward contraction (forward_macs: all slices).")
        .def_property_readonly("slice_backward_macs", &tn::ContractionPlan::slice_backward_macs)
        .def_property_readonly("n_leaves", &tn::ContractionPlan::n_leaves)
        .def_property_readonly("n_steps", &tn::ContractionPlan::n_steps)
        .def_property_readonly("forward_workspace_elements",
                               [](const tn::ContractionPlan& p) { return p.workspace_elements(false); },
                               "Complex elements of the workspace of a forward-only call (values, amplitudes): "
                               "tensors and gather copies placed by liveness.")
        .def_property_readonly("gradient_workspace_elements",
                               [](const tn::ContractionPlan& p) { return p.workspace_elements(true); },
                               "Complex elements of the workspace of a call with the backward sweep (gradients).")
        .def_property_readonly("workspace_elements",
                               [](const tn::ContractionPlan& p) { return double(p.workspace_elements(true)); },
                               "The gradient workspace (gradient_workspace_elements), as a float.")
        .def_property_readonly("table_bytes", &tn::ContractionPlan::table_bytes)
        .def_static("recompute_layout", &tn::ContractionPlan::recompute_layout, py::arg("c"),
                    "The layout code of gradients with checkpoints of at most 2^c elements (c = -1: none), the rest "
                    "recomputed (layouts: 0 forward only, 1 gradients with every value stored).")
        .def("layout_elements", &tn::ContractionPlan::layout_elements, py::arg("layout"),
             "Complex elements of a layout's workspace (-1: a recompute layout this plan does not offer).")
        .def("recompute_macs", &tn::ContractionPlan::recompute_macs, py::arg("layout"),
             "Complex multiply-adds one slice's gradient call recomputes in a layout.")
        .def("gradient_layout_for", &tn::ContractionPlan::gradient_layout_for, py::arg("bytes"),
             py::arg("elem_bytes") = 16, py::arg("mode") = 0,
             "The gradient layout for a per-thread budget of bytes (mode 0 auto, 1 stored, 2 smallest).")
        .def("bytes_per_thread", &tn::ContractionPlan::bytes_per_thread, py::arg("elem_bytes"),
             py::arg("gradients") = true,
             "Bytes of one thread's workspace for a forward-only or a gradient call.")
        .def_property_readonly("gates", [](const tn::ContractionPlan& p) { return gate_list(p.gates()); })
        .def_property_readonly("leaves", [](const tn::ContractionPlan& p) { return leaf_list(p.leaves()); })
        .def_property_readonly("steps", [](const tn::ContractionPlan& p) { return step_list(p.steps()); })
        .def(py::pickle(
            [](const tn::ContractionPlan& p) { return plan_state(p); },
            [](const py::tuple& t) {
                PYQML_REQUIRE(t.size() == 3 || t.size() == 4,
                              "a ContractionPlan state is (gates, leaves, steps) or (gates, leaves, steps, sliced)");
                return make_plan(t[0].cast<py::sequence>(), t[1].cast<std::vector<LeafTuple>>(),
                                 t[2].cast<std::vector<StepTuple>>(),
                                 t.size() == 4 ? t[3].cast<std::vector<int>>() : std::vector<int>{});
            }));

    m.def("tn_amplitudes", [](const Circuit& c, std::shared_ptr<tn::ContractionPlan> plan, const py::object& w,
                              const py::object& x, const std::string& precision) {
        PYQML_REQUIRE(plan != nullptr, "plan is None");
        PYQML_REQUIRE(precision == "complex128" || precision == "complex64",
                      "precision must be 'complex128' or 'complex64', got '" + precision + "'");
        auto a = make_batch(c, w, x);
        py::array_t<cplx> out(Shape{a.rows});
        cplx* o = out.mutable_data();
        {
            py::gil_scoped_release nogil;
            tn::amplitudes(c, *plan, to_batch(a), parse_precision(precision), o);
        }
        return out;
    }, py::arg("circuit"), py::arg("plan"), py::arg("weights"), py::arg("inputs") = py::none(),
       py::arg("precision") = "complex128", "Amplitudes <b|U|0> (rows,) through an amplitude-network plan.");

    m.def("tn_amplitude_network", [](int n_wires, const std::vector<std::pair<std::string, std::vector<int>>>& ops,
                                     const std::vector<int>& bits) {
        std::vector<tn::StructGate> gs;
        std::vector<std::vector<int>> wires;
        for (const auto& [name, ws] : ops) {
            auto id = gates::gate_by_name(name);
            if (!id) throw InvalidInput("unknown gate '" + name + "'");
            gs.push_back(tn::struct_gate(*id, gates::gate_wire_count(*id, static_cast<int>(ws.size()))));
            wires.push_back(ws);
        }
        return py::make_tuple(leaf_list(tn::build_amplitude_network(n_wires, gs, wires, bits)), gate_list(gs));
    }, py::arg("n_wires"), py::arg("ops"), py::arg("bits"),
       "Leaves [(kind, gate, letter, labels)] and gates [(name, n_wires)] of the amplitude network <b|U|0> of ops "
       "[(name, wires)] on n_wires wires (the same builder as the expectation networks' ket half).");

    m.def("tn_greedy_path", [](const std::vector<std::vector<int>>& labels) {
        std::vector<tn::Step> steps;
        {
            py::gil_scoped_release nogil;
            steps = tn::greedy_path(labels);
        }
        py::list out;
        for (const auto& s : steps) out.append(py::make_tuple(s.a, s.b, s.keep));
        return out;
    }, py::arg("labels"), "Greedy pairwise steps (a, b, kept labels) contracting a network (index lists) to a scalar.");

    m.def("tn_diagonal_on_wire", [](const std::string& name, int j) {
        auto id = gates::gate_by_name(name);
        if (!id) throw InvalidInput("unknown gate '" + name + "'");
        return gates::diagonal_on_wire(*id, j);
    }, py::arg("name"), py::arg("j"), "Whether a gate acts diagonally (in Z) on its j-th wire (the gate table's flag).");

    py::class_<tn::Executor> cls(m, "TensorNet", "A circuit and observables compiled for the tensor-network method.");
    cls.def(py::init([](const Circuit& c, const std::vector<std::vector<TermTuple>>& obs, const std::string& precision,
                        bool fuse) {
                return std::make_unique<tn::Executor>(c, make_observables(obs), parse_precision(precision), fuse);
            }),
            py::arg("circuit"), py::arg("observables"), py::arg("precision") = "complex128", py::arg("fuse") = true,
            "fuse: light cones over blocks fused on one or two wires (default); False: one unit per op.");
    def_batched_calls(cls);
    cls
        .def_property_readonly("n_terms", &tn::Executor::n_terms)
        .def_property_readonly("n_structures", &tn::Executor::n_structures)
        .def_property_readonly("n_fused", [](const tn::Executor& e) { return e.fused().n_fused(); },
                               "Blocks of ops fused on one or two wires (see cpp/include/pyqml/tensornet/fusion.hpp).")
        .def("structure", [](const tn::Executor& e, int s) {
            PYQML_REQUIRE(s >= 0 && s < e.n_structures(), "structure index out of range");
            const tn::Structure& st = e.structure(s);
            py::list gates;
            for (size_t j = 0; j < st.gates.size(); ++j) {
                const tn::StructGate& g = st.gates[j];
                std::vector<bool> diag(g.diagonal.begin(), g.diagonal.end());
                gates.append(py::make_tuple(g.name, st.gate_wires[j], diag, g.n_params));
            }
            py::list leaves = leaf_list(tn::build_network(st));
            py::dict d;
            d["leaves"] = leaves;
            d["key"] = py::bytes(st.key);
            d["n_wires"] = st.n_wires;
            d["letters"] = st.letters;
            d["gates"] = gates;
            return d;
        }, py::arg("s"), "One cone structure: key, local wire count, Pauli letters, gates (name, wires, diagonal, n_params; "
           "a fused block's name lists its members, e.g. '[CNOT 0 1; RZ 1; CNOT 0 1]'), and its "
           "network's leaves (kind, gate, letter, labels).")
        .def("structure_key", [](const tn::Executor& e, int s) {
            PYQML_REQUIRE(s >= 0 && s < e.n_structures(), "structure index out of range");
            return py::bytes(e.structure(s).key);
        }, py::arg("s"), "The structural key of structure s (structure(s)['key'] without building the rest).")
        .def("plan_greedy", [](const tn::Executor& e, const std::vector<int>& structures, double refuse_bytes,
                               int elem_bytes) {
            std::vector<std::shared_ptr<tn::ContractionPlan>> plans;
            {
                py::gil_scoped_release nogil;
                plans = tn::greedy_plans(e, structures, refuse_bytes, elem_bytes);
            }
            py::list out;
            for (auto& p : plans) out.append(p ? py::cast(p) : py::none());
            return out;
        }, py::arg("structures"), py::arg("refuse_bytes") = std::numeric_limits<double>::infinity(),
           py::arg("elem_bytes") = 16,
           "Compiled plans of the listed structures, each its network (structure(s)['leaves']) contracted along the "
           "engine's greedy path (tn_greedy_path), planned in parallel; the plans are not installed (set_plan). "
           "The batch ends at the first structure that fails (None there and after) or whose forward workspace "
           "and tables exceed refuse_bytes (kept; None after).")
        .def("structure_counts", &tn::Executor::structure_counts, "Number of terms per structure.")
        .def("cones", [](const tn::Executor& e) {
            py::list out;
            for (int t = 0; t < e.n_terms(); ++t) {
                const tn::Cone& c = e.term_cone(t);
                out.append(py::make_tuple(c.ops, c.wires, c.letters, e.term_structure(t)));
            }
            return out;
        }, "Per distinct Pauli word: (cone op indices in time order, wires, letters, structure index).")
        .def("set_plan", &tn::Executor::set_plan, py::arg("structure"), py::arg("plan"))
        .def_property_readonly("max_slices", &tn::Executor::max_slices, "The most slices of any structure's plan.")
        .def("expval_slices", [](const tn::Executor& e, const py::object& w, const py::object& x, int64_t begin,
                                 int64_t end) {
            PYQML_REQUIRE(begin >= 0 && (end < 0 || end >= begin), "slices: need 0 <= begin <= end");
            auto a = make_batch(e.circuit(), w, x);
            ResultReservation results(doubles(double(a.rows) * e.n_observables()),
                                      rows_what("expval", a.rows, "rows x n_obs doubles"));
            py::array_t<double> out(Shape{a.rows, e.n_observables()});
            double* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                e.expval(to_batch(a), o, begin, end);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs"), py::arg("begin"), py::arg("end"),
           "The share of slices [begin, end) of every term (clipped to its plan's slices; end < 0: all) in the "
           "expectation values (rows, n_obs); the constant terms count in the share that begins at 0.")
        .def("jacobian_slices", [](const tn::Executor& e, const py::object& w, const py::object& x, int64_t begin,
                                   int64_t end) {
            PYQML_REQUIRE(begin >= 0 && (end < 0 || end >= begin), "slices: need 0 <= begin <= end");
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
                e.jacobian(to_batch(a), pv, pw, px, begin, end);
            }
            return py::make_tuple(vals, dw, dx);
        }, py::arg("weights"), py::arg("inputs"), py::arg("begin"), py::arg("end"),
           "jacobian's values and gradients for the share of slices [begin, end) (see expval_slices).")
        .def("estimated_bytes", py::overload_cast<int64_t, bool>(&tn::Executor::estimated_bytes, py::const_),
             py::arg("rows"), py::arg("gradients"))
        .def("gradient_layouts", &tn::Executor::gradient_layouts, py::arg("rows") = 1,
             "Per structure, the layout a gradient call on rows rows uses at the current memory limit: 1 (values "
             "stored) or a recompute layout (ContractionPlan.recompute_layout: checkpoints, the rest recomputed).")
        .def("gradient_recompute_macs", &tn::Executor::gradient_recompute_macs, py::arg("rows") = 1,
             "Complex multiply-adds such a call spends on recomputation.")
        .def_property("recompute", &tn::Executor::recompute_mode, &tn::Executor::set_recompute,
                      "0 (auto): recompute inside a slice only where the stored values would not fit; 1: never; "
                      "2: always the smallest gradient workspace.")
        .def_property("term_batching", &tn::Executor::term_batching, &tn::Executor::set_term_batching,
                      "Contract the terms of one structure in batches (True, the default) or term by term.")
        .def("batches_terms", &tn::Executor::batches_terms, py::arg("rows"), py::arg("gradients"),
             "Whether a call on `rows` rows contracts its terms in batches (plans unsliced, memory permitting).");
#ifdef PYQML_HAVE_CUDA
    // The same plans on a GPU (cpp/include/pyqml/cuda/tensornet_gpu.hpp); the CPU executor is kept alive.
    m.def("cuda_cublas_load", [](const std::vector<std::string>& dirs) { return cuda::load_cublas(dirs); },
          py::arg("dirs") = std::vector<std::string>{},
          "Load cuBLAS for the GPU tensor network (libcublas.so.13 or .12: the loader's path, then dirs, "
          "CUDA_HOME/lib64, /usr/local/cuda/lib64); '' once loaded, else why not.");
    py::class_<cuda::TensorNet> gcls(m, "GpuTensorNet",
                                     "A TensorNet's contraction plans run on a GPU (cuBLAS batched GEMMs).");
    gcls.def(py::init([](const tn::Executor& e, int device) { return std::make_unique<cuda::TensorNet>(e, device); }),
             py::arg("tensornet"), py::arg("device") = 0, py::keep_alive<1, 2>())
        .def_property_readonly("device", &cuda::TensorNet::device)
        .def("estimated_bytes", &cuda::TensorNet::estimated_bytes, py::arg("rows"), py::arg("gradients"),
             "Device bytes a call on `rows` rows needs at least (checked against the free device memory).")
        .def("layouts", &cuda::TensorNet::layouts, py::arg("rows") = 1, py::arg("gradients") = true,
             "Per structure, the workspace layout such a call uses (0 forward, 1 stored, >= 2 recompute).")
        .def("group_sizes", &cuda::TensorNet::group_sizes, py::arg("rows") = 1, py::arg("gradients") = true,
             "Per structure, how many contractions (rows x terms x slices) one group of such a call holds.");
    def_batched_calls(gcls);
#endif
}

}  // namespace pyqml::bind
