// pyqml._core.StateVector: batched state-vector execution and adjoint gradients.
#include <pybind11/complex.h>

#include <cmath>
#include <memory>

#include "convert.hpp"
#include "pyqml/common/peak.hpp"
#include "pyqml/cuda/gpu.hpp"
#include "pyqml/statevector/fused.hpp"
#include "pyqml/statevector/lanes.hpp"
#include "pyqml/statevector/simulator.hpp"

namespace pyqml::bind {

namespace {
// Wires of a measurement: in range, each once (before any result is sized from their number).
void check_wires(const char* call, const std::vector<int>& wires, int n) {
    PYQML_REQUIRE(wires.size() <= size_t(n), std::string(call) + ": " + std::to_string(wires.size()) +
                                                 " wires on a register of " + std::to_string(n));
    std::vector<char> seen(size_t(n), 0);
    for (int w : wires) {
        PYQML_REQUIRE(w >= 0 && w < n, std::string(call) + ": wire " + std::to_string(w) + " out of range");
        PYQML_REQUIRE(!seen[size_t(w)], std::string(call) + ": wire " + std::to_string(w) + " listed twice");
        seen[size_t(w)] = 1;
    }
}

// var, state, probs and sample of a state-vector engine (the CPU Simulator and the GPU StateVector).
template <class Engine>
void def_state_calls(py::class_<Engine>& cls) {
    cls.def("var", [](const Engine& s, const py::object& w, const py::object& x) {
            auto a = make_batch(s.program().circuit(), w, x);
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
        .def("state", [](const Engine& s, const py::object& w, const py::object& x) {
            auto a = make_batch(s.program().circuit(), w, x);
            const py::ssize_t size = py::ssize_t(1) << s.program().n_wires();
            ResultReservation results(double(a.rows) * double(size) * sizeof(cplx),
                                      rows_what("state", a.rows, "rows x 2^" + std::to_string(s.program().n_wires()) +
                                                                     " complex128"));
            py::array_t<cplx> out(Shape{a.rows, size});
            cplx* o = out.mutable_data();
            {
                py::gil_scoped_release nogil;
                s.state(to_batch(a), o);
            }
            return out;
        }, py::arg("weights"), py::arg("inputs") = py::none(), "State vectors, shape (rows, 2^n).")
        .def("probs", [](const Engine& s, const py::object& w, const py::object& x, std::vector<int> wires) {
            auto a = make_batch(s.program().circuit(), w, x);
            check_wires("probs", wires, s.program().n_wires());
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
        .def("sample", [](const Engine& s, const py::object& w, const py::object& x, std::vector<int> wires,
                          int64_t shots, uint64_t seed) {
            auto a = make_batch(s.program().circuit(), w, x);
            PYQML_REQUIRE(shots >= 1, "shots must be a positive integer");
            check_wires("sample", wires, s.program().n_wires());
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

}  // namespace

void init_statevector(py::module_& m) {
    py::class_<sv::Simulator> cls(m, "StateVector", "A circuit and its observables compiled for the state-vector method.");
    cls.def(py::init([](const Circuit& c, const std::vector<std::vector<TermTuple>>& obs, const std::string& precision) {
                return std::make_unique<sv::Simulator>(c, make_observables(obs), parse_precision(precision));
            }),
            py::arg("circuit"), py::arg("observables"), py::arg("precision") = "complex128");
    def_batched_calls(cls);
    def_state_calls(cls);
    py::class_<sv::SavedForward, std::shared_ptr<sv::SavedForward>>(
        m, "SavedForward",
        "What StateVector.forward kept for the VJP on the same batch: copies of its weights and inputs and, "
        "when the shared-suffix path ran, the final states. Pass it to StateVector.vjp_saved.")
        .def_property_readonly("rows", &sv::SavedForward::rows)
        .def_property_readonly("has_state", &sv::SavedForward::has_state,
                               "Whether a VJP from it runs the backward part alone (the shared suffix's states).");
    cls.def("forward", [](const sv::Simulator& s, const py::object& w, const py::object& x, bool need_dx) {
            auto a = make_batch(s.circuit(), w, x);
            ResultReservation results(doubles(double(a.rows) * s.n_observables()),
                                      rows_what("forward", a.rows, "rows x n_obs doubles"));
            py::array_t<double> out(Shape{a.rows, s.n_observables()});
            double* o = out.mutable_data();
            auto saved = std::make_shared<sv::SavedForward>();
            {
                py::gil_scoped_release nogil;
                s.forward(to_batch(a), o, *saved, need_dx);
            }
            return py::make_tuple(out, saved);
        }, py::arg("weights"), py::arg("inputs") = py::none(), py::arg("need_dx") = false,
        "(values (rows, n_obs), SavedForward): expval that keeps what vjp_saved on the same batch needs; "
        "need_dx: that VJP will ask for the input gradients (the shared suffix's states cannot give them, so "
        "none are kept and the VJP runs whole).")
        .def("vjp_saved", [](const sv::Simulator& e, const std::shared_ptr<sv::SavedForward>& saved,
                             const py::object& w, const py::object& x, darray cot, bool need_dx) {
            PYQML_REQUIRE(saved != nullptr, "vjp_saved needs the SavedForward of a forward call");
            const Circuit& c = e.circuit();
            auto a = make_batch(c, w, x);
            VjpResults r(c, a, e.n_observables(), cot, need_dx);
            const double* pc = cot.data();
            {
                py::gil_scoped_release nogil;
                e.vjp(to_batch(a), pc, r.pv, r.pw, r.px, saved.get());
            }
            return r.result();
        }, py::arg("saved"), py::arg("weights"), py::arg("inputs"), py::arg("cotangent"), py::arg("need_dx") = true,
        "vjp after forward: the backward part alone when `saved` came from this engine's forward on weights and "
        "inputs of the same contents (and no input gradient is asked for); otherwise the whole vjp.")
        .def("_keeps_shared_suffix", &sv::Simulator::keeps_shared_suffix, py::arg("rows"),
             "Whether forward on `rows` rows with shared weights keeps the shared suffix's states.");
    cls.def("_takes_shared_suffix", &sv::Simulator::takes_shared_suffix, py::arg("rows"), py::arg("vjp"),
            py::arg("need_dx") = true,
            "Whether a call of `rows` rows with shared weights takes the shared-suffix path.")
        .def_property_readonly("_shared_suffix_split", &sv::Simulator::shared_suffix_split,
                               "First op of the shared suffix (-1: none).");
    cls.def("flops", [](const sv::Simulator& s, const py::object& rows, bool need_dx, bool saved) {
        sv::Simulator::Flops f;
        if (rows.is_none()) {
            f = s.flops();
        } else {
            const int64_t r = rows.cast<int64_t>();
            PYQML_REQUIRE(r >= 1, "flops: rows must be a positive integer, got " + std::to_string(r));
            f = s.flops(r, need_dx, saved);
        }
        py::dict d;
        d["forward"] = f.forward;
        d["values"] = f.values;
        d["jacobian"] = f.jacobian;
        d["vjp"] = f.vjp;
        return d;
    }, py::arg("rows") = py::none(), py::arg("need_dx") = true, py::arg("saved") = false,
       "Real flops of one row, counted from the compiled program (cpp/src/statevector/flops.cpp): forward "
       "pass, values (forward + observables), jacobian and vjp (values + the adjoint sweep). With rows: the "
       "whole call's flops for that many rows (shared weights) along the path the engine takes for it (the "
       "shared-suffix path counts its per-call and per-row parts); need_dx: a vjp with input gradients; saved: a vjp "
       "after forward on the same batch (vjp_saved: the backward part alone where forward kept the states).");
    m.def("fma_peak", [](int threads, double seconds) {
        PYQML_REQUIRE(threads >= 0 && threads <= max_thread_count(),
                      "fma_peak: threads must be 0 (the engine's count) or 1.." + std::to_string(max_thread_count()));
        PYQML_REQUIRE(seconds > 0 && seconds <= 10, "fma_peak: seconds must be in (0, 10]");
        FmaPeak p;
        {
            py::gil_scoped_release nogil;
            p = measure_fma_peak(threads, seconds);
        }
        py::dict d;
        d["gflops"] = p.gflops;
        d["gflops_cpu"] = p.gflops_cpu;
        d["threads"] = p.threads;
        d["isa"] = p.isa;
        return d;
    }, py::arg("threads") = 0, py::arg("seconds") = 0.02,
       "Measured double-precision FMA peak (register-resident loop) in GFLOP/s on `threads` threads "
       "(0: the engine's thread count): {'gflops', 'gflops_cpu', 'threads', 'isa'}; gflops_cpu per second of "
       "CPU time the threads ran (the cores' rate on a shared machine).");

    m.def("_set_sv_tiles", &sv::set_tiles_enabled, py::arg("on"),
          "Switch the state vector's cache-tiled passes (14 wires and more, off by default) on or off.");
    m.def("_sv_tiles", &sv::tiles_enabled, "Whether the state vector's cache-tiled passes are on.");
    m.def("_set_sv_fusion", &sv::set_fusion_enabled, py::arg("on"),
          "Switch the state vector's two-wire fused blocks (10 wires and more, on by default) on or off.");
    m.def("_sv_fusion", &sv::fusion_enabled, "Whether the state vector's two-wire fused blocks are on.");
    m.def("_set_sv_fused_fma", &sv::set_fused_fma_enabled, py::arg("on"),
          "Let the fused-block kernels take their AVX2+FMA versions where the CPU has them (on, the default), "
          "or run their baseline versions (for tests).");
    m.def("_sv_fused_fma", &sv::fused_fma_enabled, "Whether the fused-block kernels may take AVX2+FMA.");
    m.def("_set_sv_sweep_region", &sv::set_sweep_region_enabled, py::arg("on"),
          "Run a fused forward pass / adjoint sweep in one parallel region (on, the default) or one per pass.");
    m.def("_sv_sweep_region", &sv::sweep_region_enabled, "Whether fused sweeps run in one parallel region.");
    m.def("_set_sv_fused_parallel_min_wires", &sv::set_fused_parallel_min_wires, py::arg("n"),
          "From how many wires a fused program splits one row's amplitudes over the threads.");
    m.def("_sv_fused_parallel_min_wires", &sv::fused_parallel_min_wires,
          "From how many wires a fused program splits one row's amplitudes over the threads.");
    m.def("_set_sv_shared_suffix", &sv::set_shared_suffix_enabled, py::arg("on"), py::arg("force") = false,
          "Switch the state vector's shared-suffix path (values and VJPs through the suffix unitary, on by "
          "default) on or off; force: take it whenever it applies, whatever the cost model says.");
    m.def("_sv_shared_suffix", &sv::shared_suffix_enabled, "Whether the state vector's shared-suffix path is on.");
    m.def("_sv_lane_vector_bits", &sv::lane_vector_bits,
          "The vector width (bits) of the lane kernels in this process: 512 on AVX-512 (x86-64-v4), else 256.");

    // The optional CUDA back end: status in every build, the GPU state vector in CUDA builds.
    m.attr("CUDA_BUILT") = cuda::built();
    m.def("cuda_available", [] { return cuda::available(); },
          "Whether a CUDA device can be used (False in CPU-only builds and on machines without a GPU).");
    m.def("cuda_unavailable_reason", [] {
            std::string why;
            cuda::available(&why);
            return why;
        }, "Why the CUDA path cannot be used ('' when it can).");
    m.def("cuda_device_count", &cuda::device_count, "Number of usable CUDA devices.");
    m.def("cuda_device_name", &cuda::device_name, py::arg("device") = 0);
    m.def("cuda_memory_info", [](int device) {
            double f = 0, t = 0;
            cuda::memory_info(device, &f, &t);
            return py::make_tuple(f, t);
        }, py::arg("device") = 0, "(free, total) bytes of a CUDA device.");
#ifdef PYQML_HAVE_CUDA
    py::class_<cuda::StateVector> gcls(m, "GpuStateVector",
                                       "A circuit and its observables compiled for the state-vector method on a GPU.");
    gcls.def(py::init([](const Circuit& c, const std::vector<std::vector<TermTuple>>& obs, const std::string& precision,
                         int device) {
                 return std::make_unique<cuda::StateVector>(c, make_observables(obs), parse_precision(precision), device);
             }),
             py::arg("circuit"), py::arg("observables"), py::arg("precision") = "complex128", py::arg("device") = 0)
        .def_property_readonly("device", &cuda::StateVector::device)
        .def("batched", &cuda::StateVector::batched, py::arg("rows"),
             "Whether a call of this many rows runs many rows per launch.");
    def_batched_calls(gcls);
    def_state_calls(gcls);
    m.def("cuda_bench_copy", [](double bytes, int reps, int device) {
            py::gil_scoped_release nogil;
            return cuda::bench_copy_gbps(device, bytes, reps);
        }, py::arg("bytes"), py::arg("reps") = 10, py::arg("device") = 0,
        "Achieved GB/s (reads + writes) of a device-to-device copy.");
    m.def("cuda_bench_gate", [](int n, const std::string& precision, const std::string& kind, int target, int reps,
                                int device) {
            const Precision p = parse_precision(precision);
            py::gil_scoped_release nogil;
            return cuda::bench_gate_gbps(device, n, p, kind, target, reps);
        }, py::arg("n"), py::arg("precision") = "complex128", py::arg("kind") = "dense1", py::arg("target") = 0,
        py::arg("reps") = 10, py::arg("device") = 0,
        "Achieved GB/s (reads + writes) of one gate kernel on an n-wire state.");
#endif
}

}  // namespace pyqml::bind
