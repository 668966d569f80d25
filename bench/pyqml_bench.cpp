// pyqml-bench: times the engine's workloads from C++ (no Python at run time) and prints one JSON line per
// measurement: median/min/max seconds, the value computed (so runs are checkable), and where the limit is
// (achieved memory bandwidth next to a plain copy measured in the same run).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "pyqml/circuit/circuit.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/common/peak.hpp"

#include "pyqml/statevector/apply_gate.hpp"
#include "pyqml/statevector/simulator.hpp"
#include "pyqml/tensornet/blas.hpp"
#include "pyqml/tensornet/executor.hpp"
#include "pyqml/tensornet/network.hpp"

using namespace pyqml;
using gates::GateId;

namespace {

const char* kHelp = R"(pyqml-bench: time pyqml's engine from C++.

usage: pyqml-bench <workload> [options]

workloads
  sel        StronglyEntanglingLayers on n wires, H = sum_i Z_i: value (and value + gradient with --grad)
  random     random circuit (RX/RY/RZ on every wire, then CNOTs on random pairs) of --depth layers
  qnn        the seed QNN: 4 wires, RX(x_j) embedding, StronglyEntanglingLayers L=2, <Z_i> on every wire,
             values (with --grad values + Jacobian, with --vjp values + VJP) for --rows random input rows
             (uniform in [-2, 2], seed 1)
  peak       the measured double-precision FMA peak (register-resident loop) on one thread and on all
  copy       plain memory copy of a 2^n-amplitude state (the bandwidth ceiling)
  kernels    the gate kernels alone on one 2^n-amplitude state (default n = 24, 256 MiB in complex128:
             memory, not cache): one JSON line per kernel and bit choice with its GB/s (one read and one
             write of the state per application), next to a memcpy of the state in the same run
  brickwork  tensor network, 1-D shallow brickwork on --n qubits: per layer RY on every qubit, CZ on
             (0,1),(2,3)..., RY on every qubit, CZ on (1,2),(3,4)...; E = sum_i <Z_i Z_i+1> (with --grad
             also its gradient by reverse mode)
  grid       tensor network, 2-D --rows x --cols grid: per layer four CZ sub-layers (horizontal even/odd,
             vertical even/odd), each preceded by RY on every qubit; E = sum over grid edges of <Z Z>
  qaoa       tensor network, QAOA MaxCut on a random 3-regular graph of --n nodes (seed 1): |+>^n, then
             --p layers of IsingZZ(gamma) on every edge and RX(2 beta) on every qubit; E = sum <Z_i Z_j>

options
  --n N            wires (default 20; 4 for qnn)
  --layers L       layers for sel (default 4)
  --depth D        layers for random (default 10)
  --rows B         input rows for qnn (default 150); grid rows (default 6)
  --cols C         grid columns (default 6)
  --p P            QAOA layers (default 1)
  --grad           also the adjoint gradient (sel, random; the Jacobian for qnn)
  --vjp            qnn: values + VJP (cotangent of ones) instead of the Jacobian
  --no-dx          qnn --vjp: without the input gradients
  --pair           qnn: a training step's two engine calls, values kept (Simulator::forward) then the VJP from
                   them (its backward part alone where the forward kept the shared suffix's states); with --no-dx
  --no-shared-suffix  qnn: the row paths (lanes) instead of the shared-suffix path (values, VJP)
  --shared-suffix  qnn: the shared-suffix path wherever it applies, whatever the cost model says
  --threads T      OpenMP threads (default: all)
  --precision P    complex128 (default) or complex64
  --repeats R      timed repeats (default 5)
  --warmup W       untimed warm-up runs (default 1)
  --help           this text

Each measurement prints one JSON line: {"workload", "n", "threads", "precision", "grad", "median_s", "min_s",
"max_s", "value", "gb_per_s", "copy_gb_per_s"} (qnn: value = <Z_0> of row 0). gb_per_s counts one read and one write of the state per gate
application (forward pass plus, with --grad, the adjoint sweep's states); copy_gb_per_s is a memcpy of a state
of the same size, measured in the same run. Tensor-network workloads (planned here with a greedy path, no
Python) print instead "gflops" (real flops of the plans per second) and "gemm_gflops" (a 1024 x 1024 complex
GEMM through the same BLAS, measured in the same run), with "terms", "structures" and "width".
qnn adds the arithmetic floor: "flops_forward", "flops_values", "flops_jacobian", "flops_vjp" (real flops of
the whole batch along the path the call takes, counted from the compiled program by the model in cpp/src/statevector/flops.cpp; "path": "shared_suffix" or "rows"),
"gflops" (the call's flops per second at the median time; "gflops_at_min" at the fastest repeat),
"peak_gflops_1" and "peak_gflops" (the FMA loop on one thread and on the run's threads, same run, the
best of short repeats; "peak_isa") and "peak_fraction" (gflops / peak_gflops); on a machine shared with
other work also "cpu_s" (process CPU seconds per call, all threads), "gflops_cpu" (flops per CPU second)
and "cpu_fraction_of_peak" (gflops_cpu / "peak_gflops_cpu_1", the FMA loop per CPU second of one thread).
)";

struct Options {
    std::string workload;
    int n = -1, layers = 4, depth = 10, rows = -1, cols = 6, p = 1, threads = 0, repeats = 5, warmup = 1;
    bool grad = false, vjp = false, no_dx = false, no_shared_suffix = false, pair = false, force_shared = false;
    std::string precision = "complex128";
};

struct Timing {
    double median, min, max;
};

Timing time_it(const std::function<void()>& f, int repeats, int warmup) {
    for (int i = 0; i < warmup; ++i) f();
    std::vector<double> t;
    for (int i = 0; i < repeats; ++i) {
        auto a = std::chrono::steady_clock::now();
        f();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t.front(), t.back()};
}

// CPU seconds of the whole process (all threads): on a shared machine the time the work actually ran.
double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

ParamRef weight(int& k) { return {ParamRef::Weight, k++, 1.0, 0.0}; }

// StronglyEntanglingLayers (PennyLane): Rot on every wire, then CNOT(i, (i + r) % n), r = l % (n - 1) + 1.
void add_sel(std::vector<Op>& ops, int n, int layers, int& k) {
    for (int l = 0; l < layers; ++l) {
        const int r = n > 1 ? l % (n - 1) + 1 : 0;
        for (int i = 0; i < n; ++i) ops.push_back({GateId::Rot, {i}, {weight(k), weight(k), weight(k)}, {}});
        if (n > 1)
            for (int i = 0; i < n; ++i) ops.push_back({GateId::CNOT, {i, (i + r) % n}, {}, {}});
    }
}

Observable sum_z(int n) {
    Observable o;
    for (int i = 0; i < n; ++i) o.terms.push_back({1.0, {i}, "Z"});
    return o;
}

double copy_bandwidth(int n, size_t amp_bytes, int repeats) {
    const size_t bytes = (size_t(1) << n) * amp_bytes;
    std::vector<char> a(bytes, 1), b(bytes, 0);
    Timing t = time_it([&] { std::memcpy(b.data(), a.data(), bytes); }, std::max(repeats, 5), 1);
    return 2.0 * bytes / t.median / 1e9;
}

void print(const Options& o, int n, const Timing& t, double value, double gbs, double copy_gbs) {
    std::printf("{\"workload\": \"%s\", \"n\": %d, \"threads\": %d, \"precision\": \"%s\", \"grad\": %s, "
                "\"median_s\": %.6g, \"min_s\": %.6g, \"max_s\": %.6g, \"value\": %.15g, \"gb_per_s\": %.4g, "
                "\"copy_gb_per_s\": %.4g}\n",
                o.workload.c_str(), n, sv::max_threads(), o.precision.c_str(), o.grad ? "true" : "false",
                t.median, t.min, t.max, value, gbs, copy_gbs);
    std::fflush(stdout);
}

double gemm_gflops() {
    const int64_t m = 1024;
    std::vector<std::complex<double>> a(m * m, {0.5, 0.25}), b(m * m, {0.25, -0.5}), c(m * m);
    Timing t = time_it([&] { tn::gemm<std::complex<double>>(false, false, m, m, m, a.data(), b.data(), c.data()); }, 3, 1);
    return 8.0 * double(m) * m * m / t.median / 1e9;
}

// A random 3-regular graph on n nodes (configuration model with rejection of loops and multi-edges).
std::vector<std::pair<int, int>> random_3_regular(int n, uint64_t seed) {
    if (n < 4 || n % 2) throw InvalidInput("qaoa needs an even number of nodes >= 4");
    std::mt19937_64 rng(seed);
    for (int attempt = 0; attempt < 10000; ++attempt) {
        std::vector<int> stubs;
        for (int v = 0; v < n; ++v) stubs.insert(stubs.end(), {v, v, v});
        std::shuffle(stubs.begin(), stubs.end(), rng);
        std::vector<std::pair<int, int>> edges;
        std::vector<std::vector<int>> adj(n);
        bool ok = true;
        for (size_t i = 0; i < stubs.size() && ok; i += 2) {
            int a = std::min(stubs[i], stubs[i + 1]), b = std::max(stubs[i], stubs[i + 1]);
            if (a == b || std::find(adj[a].begin(), adj[a].end(), b) != adj[a].end()) ok = false;
            adj[a].push_back(b);
            edges.push_back({a, b});
        }
        if (ok) return edges;
    }
    throw InvalidInput("could not draw a simple 3-regular graph");
}

int run_tensornet(const Options& o) {
    std::mt19937_64 rng(0);
    std::uniform_real_distribution<double> angle(0.0, 2 * M_PI);
    std::vector<Op> ops;
    Observable energy;
    int k = 0;
    int n = 0;
    auto ry_all = [&](int nq) {
        for (int q = 0; q < nq; ++q) ops.push_back({GateId::RY, {q}, {weight(k)}, {}});
    };
    if (o.workload == "brickwork") {
        n = o.n > 0 ? o.n : 100;
        for (int l = 0; l < o.layers; ++l)
            for (int parity = 0; parity < 2; ++parity) {
                ry_all(n);
                for (int q = parity; q + 1 < n; q += 2) ops.push_back({GateId::CZ, {q, q + 1}, {}, {}});
            }
        for (int q = 0; q + 1 < n; ++q) energy.terms.push_back({1.0, {q, q + 1}, "ZZ"});
    } else if (o.workload == "grid") {
        const int R = o.rows > 0 ? o.rows : 6, C = o.cols;
        n = R * C;
        for (int l = 0; l < o.layers; ++l)
            for (int sub = 0; sub < 4; ++sub) {
                ry_all(n);
                const bool horizontal = sub < 2;
                const int parity = sub % 2;
                for (int r = 0; r < R; ++r)
                    for (int c = 0; c < C; ++c) {
                        if (horizontal && c % 2 == parity && c + 1 < C) ops.push_back({GateId::CZ, {r * C + c, r * C + c + 1}, {}, {}});
                        if (!horizontal && r % 2 == parity && r + 1 < R) ops.push_back({GateId::CZ, {r * C + c, (r + 1) * C + c}, {}, {}});
                    }
            }
        for (int r = 0; r < R; ++r)
            for (int c = 0; c < C; ++c) {
                if (c + 1 < C) energy.terms.push_back({1.0, {r * C + c, r * C + c + 1}, "ZZ"});
                if (r + 1 < R) energy.terms.push_back({1.0, {r * C + c, (r + 1) * C + c}, "ZZ"});
            }
    } else {  // qaoa: one gamma and one beta per layer, shared by all gates of the layer
        n = o.n > 0 ? o.n : 100;
        const auto edges = random_3_regular(n, 1);
        for (int q = 0; q < n; ++q) ops.push_back({GateId::H, {q}, {}, {}});
        for (int l = 0; l < o.p; ++l) {
            const int gamma = k++, beta = k++;
            for (auto [a, b] : edges) ops.push_back({GateId::IsingZZ, {a, b}, {{ParamRef::Weight, gamma, 1.0, 0.0}}, {}});
            for (int q = 0; q < n; ++q) ops.push_back({GateId::RX, {q}, {{ParamRef::Weight, beta, 2.0, 0.0}}, {}});
        }
        for (auto [a, b] : edges) energy.terms.push_back({1.0, {a, b}, "ZZ"});
    }
    Circuit c(n, ops, k, 0);
    const auto prec = o.precision == "complex64" ? tn::Precision::Single : tn::Precision::Double;
    auto t0 = std::chrono::steady_clock::now();
    tn::Executor ex(c, {energy}, prec);
    double flops = 0;
    int width = 0;
    const auto counts = ex.structure_counts();
    for (int s = 0; s < ex.n_structures(); ++s) {
        auto plan = tn::greedy_plan(ex.structure(s));
        flops += 8.0 * double(counts[s]) * (plan->forward_macs() + (o.grad ? plan->backward_macs() : 0.0));
        width = std::max(width, plan->width());
        ex.set_plan(s, plan);
    }
    const double plan_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<double> w(k);
    for (auto& v : w) v = angle(rng);
    std::vector<double> dw(k);
    double value = 0;
    tn::Batch b;
    b.weights = w.data();
    Timing t = time_it([&] {
        if (o.grad) ex.jacobian(b, &value, dw.data(), nullptr);
        else ex.expval(b, &value);
    }, o.repeats, o.warmup);
    std::printf("{\"workload\": \"%s\", \"n\": %d, \"layers\": %d, \"threads\": %d, \"precision\": \"%s\", "
                "\"grad\": %s, \"terms\": %d, \"structures\": %d, \"width\": %d, \"plan_s\": %.4g, "
                "\"median_s\": %.6g, \"min_s\": %.6g, \"max_s\": %.6g, \"value\": %.15g, \"gflops\": %.4g, "
                "\"gemm_gflops\": %.4g}\n",
                o.workload.c_str(), n, o.workload == "qaoa" ? o.p : o.layers, sv::max_threads(), o.precision.c_str(),
                o.grad ? "true" : "false", ex.n_terms(), ex.n_structures(), width, plan_s, t.median, t.min, t.max,
                value, flops / t.median / 1e9, gemm_gflops());
    std::fflush(stdout);
    return 0;
}

// Each gate kernel on its own, applied in place to one state of 2^n amplitudes.
template <class F>
int run_kernels(const Options& o) {
    const int n = o.n > 0 ? o.n : 24;
    const size_t size = size_t(1) << n;
    std::vector<sv::amp_t<F>> psi(size, sv::amp_t<F>(F(1) / std::sqrt(F(size))));
    const double bytes = 2.0 * double(size) * sizeof(sv::amp_t<F>);
    const double c = std::cos(0.3), s = std::sin(0.3);
    const cplx ry[4] = {c, -s, s, c};
    cplx u4[16];
    for (int i = 0; i < 16; ++i) u4[i] = (i % 5 == 0) ? cplx(c, 0) : cplx(0, s / 3.0);
    const bool par = sv::max_threads() > 1;
    const double copy_gbs = copy_bandwidth(n, sizeof(sv::amp_t<F>), o.repeats);
    struct K {
        std::string name;
        std::function<void()> f;
    };
    const int hi = n - 1, mid = n / 2;
    std::vector<K> ks = {
        {"dense1 bit 0", [&] { sv::apply_dense1<F>(psi.data(), n, 0, ry, par); }},
        {"dense1 bit " + std::to_string(mid), [&] { sv::apply_dense1<F>(psi.data(), n, mid, ry, par); }},
        {"dense1 bit " + std::to_string(hi), [&] { sv::apply_dense1<F>(psi.data(), n, hi, ry, par); }},
        {"cnot bits " + std::to_string(hi) + "," + std::to_string(mid),
         [&] { sv::apply_cnot<F>(psi.data(), n, hi, mid, par); }},
        {"controlled1 bits " + std::to_string(mid) + "," + std::to_string(hi),
         [&] { sv::apply_controlled1<F>(psi.data(), n, mid, hi, ry, false, par); }},
        {"dense2 bits " + std::to_string(hi) + "," + std::to_string(mid),
         [&] { sv::apply_dense2<F>(psi.data(), n, hi, mid, u4, par); }},
        {"dense2 bits 1,0", [&] { sv::apply_dense2<F>(psi.data(), n, 1, 0, u4, par); }},
    };
    for (const K& k : ks) {
        Timing t = time_it(k.f, o.repeats, o.warmup);
        std::printf("{\"workload\": \"kernels\", \"kernel\": \"%s\", \"n\": %d, \"threads\": %d, "
                    "\"precision\": \"%s\", \"median_s\": %.6g, \"gb_per_s\": %.4g, \"copy_gb_per_s\": %.4g}\n",
                    k.name.c_str(), n, sv::max_threads(), o.precision.c_str(), t.median, bytes / t.median / 1e9,
                    copy_gbs);
    }
    std::fflush(stdout);
    return 0;
}

int run(const Options& o) {
    if (o.workload == "kernels")
        return o.precision == "complex64" ? run_kernels<float>(o) : run_kernels<double>(o);
    if (o.workload == "brickwork" || o.workload == "grid" || o.workload == "qaoa") return run_tensornet(o);
    const auto prec = o.precision == "complex64" ? sv::Precision::Single : sv::Precision::Double;
    const size_t amp_bytes = prec == sv::Precision::Single ? 8 : 16;
    std::mt19937_64 rng(0);
    std::uniform_real_distribution<double> angle(0.0, 2 * M_PI);

    if (o.workload == "peak") {
        const FmaPeak one = measure_fma_peak(1, 0.05), all = measure_fma_peak(sv::max_threads(), 0.05);
        std::printf("{\"workload\": \"peak\", \"threads\": %d, \"median_s\": 0, \"isa\": \"%s\", "
                    "\"peak_gflops_1\": %.4g, \"peak_gflops\": %.4g, \"peak_gflops_cpu_1\": %.4g, "
                    "\"peak_gflops_cpu\": %.4g}\n",
                    all.threads, all.isa.c_str(), one.gflops, all.gflops, one.gflops_cpu, all.gflops_cpu);
        std::fflush(stdout);
        return 0;
    }
    if (o.workload == "copy") {
        const int n = o.n > 0 ? o.n : 20;
        const double gbs = copy_bandwidth(n, amp_bytes, o.repeats);
        print(o, n, {0, 0, 0}, 0.0, gbs, gbs);
        return 0;
    }
    if (o.workload == "qnn") {
        const int n = 4;
        std::vector<Op> ops;
        int k = 0;
        for (int j = 0; j < n; ++j) ops.push_back({GateId::RX, {j}, {{ParamRef::Input, j, 1.0, 0.0}}, {}});
        add_sel(ops, n, 2, k);
        Circuit c(n, ops, k, n);
        std::vector<Observable> obs;
        for (int i = 0; i < n; ++i) obs.push_back({{{1.0, {i}, "Z"}}});
        sv::Simulator sim(c, obs, prec);
        const int rows = o.rows > 0 ? o.rows : 150;
        std::vector<double> w(k), x(size_t(rows) * n);
        for (auto& v : w) v = angle(rng);
        std::mt19937_64 drng(1);
        std::uniform_real_distribution<double> data(-2.0, 2.0);
        for (auto& v : x) v = data(drng);
        std::vector<double> vals(size_t(rows) * n), dw(size_t(rows) * n * k), dx(size_t(rows) * n * n);
        std::vector<double> cot(size_t(rows) * n, 1.0);
        sv::Batch b;
        b.weights = w.data();
        b.inputs = x.data();
        b.rows = rows;
        sv::set_shared_suffix_enabled(!o.no_shared_suffix, o.force_shared);
        const bool with_dx = !o.no_dx;
        const double cpu0 = process_cpu_seconds();
        sv::SavedForward saved;
        Timing t = time_it([&] {
            if (o.pair) {
                sim.forward(b, vals.data(), saved);
                sim.vjp(b, cot.data(), vals.data(), dw.data(), with_dx ? dx.data() : nullptr, &saved);
            } else if (o.vjp) sim.vjp(b, cot.data(), vals.data(), dw.data(), with_dx ? dx.data() : nullptr);
            else if (o.grad) sim.jacobian(b, vals.data(), dw.data(), dx.data());
            else sim.expval(b, vals.data());
        }, o.repeats, o.warmup);
        const double cpu_per_call = (process_cpu_seconds() - cpu0) / double(o.repeats + o.warmup);
        // The whole call's flops along the path it takes (the shared-suffix path: per call and per row).
        const auto f = sim.flops(rows, with_dx, o.pair);
        const bool shared = !o.grad && (o.pair ? !with_dx && sim.keeps_shared_suffix(rows)
                                               : sim.takes_shared_suffix(rows, o.vjp, with_dx));
        const double per_row = double(o.pair ? f.values + f.vjp : o.vjp ? f.vjp : o.grad ? f.jacobian : f.values) / rows;
        const double gflops = per_row * rows / t.median / 1e9;
        const FmaPeak one = measure_fma_peak(1, 0.05), all = measure_fma_peak(sv::max_threads(), 0.05);
        std::printf("{\"workload\": \"qnn\", \"n\": %d, \"rows\": %d, \"threads\": %d, \"precision\": \"%s\", "
                    "\"grad\": %s, \"vjp\": %s, \"pair\": %s, \"dx\": %s, \"path\": \"%s\", \"median_s\": %.6g, \"min_s\": %.6g, \"max_s\": %.6g, "
                    "\"value\": %.15g, \"flops_forward\": %.0f, \"flops_values\": %.0f, \"flops_jacobian\": %.0f, "
                    "\"flops_vjp\": %.0f, \"gflops\": %.4g, \"gflops_at_min\": %.4g, \"peak_gflops_1\": %.4g, \"peak_gflops\": %.4g, "
                    "\"peak_isa\": \"%s\", \"peak_fraction\": %.4g, \"cpu_s\": %.6g, \"gflops_cpu\": %.4g, "
                    "\"peak_gflops_cpu_1\": %.4g, \"cpu_fraction_of_peak\": %.4g}\n",
                    n, rows, sv::max_threads(), o.precision.c_str(), o.grad ? "true" : "false",
                    o.vjp ? "true" : "false", o.pair ? "true" : "false", with_dx ? "true" : "false", shared ? "shared_suffix" : "rows",
                    t.median, t.min, t.max, vals[0], double(f.forward), double(f.values), double(f.jacobian),
                    double(f.vjp), gflops, per_row * rows / t.min / 1e9, one.gflops,
                    all.gflops, all.isa.c_str(), gflops / all.gflops, cpu_per_call, per_row * rows / cpu_per_call / 1e9,
                    one.gflops_cpu, per_row * rows / cpu_per_call / 1e9 / one.gflops_cpu);
        std::fflush(stdout);
        return 0;
    }
    const int n = o.n > 0 ? o.n : 20;
    std::vector<Op> ops;
    int k = 0;
    if (o.workload == "sel") {
        add_sel(ops, n, o.layers, k);
    } else if (o.workload == "random") {
        std::uniform_int_distribution<int> wire(0, n - 1);
        const GateId rots[3] = {GateId::RX, GateId::RY, GateId::RZ};
        for (int d = 0; d < o.depth; ++d) {
            for (int i = 0; i < n; ++i) ops.push_back({rots[(i + d) % 3], {i}, {weight(k)}, {}});
            for (int i = 0; i < n / 2; ++i) {
                int a = wire(rng), b2 = wire(rng);
                if (a != b2) ops.push_back({GateId::CNOT, {a, b2}, {}, {}});
            }
        }
    } else {
        std::fprintf(stderr, "pyqml-bench: unknown workload '%s' (see --help)\n", o.workload.c_str());
        return 2;
    }
    Circuit c(n, ops, k, 0);
    sv::Simulator sim(c, {sum_z(n)}, prec);
    std::vector<double> w(k);
    for (auto& v : w) v = angle(rng);
    double value = 0;
    std::vector<double> dw(k);
    sv::Batch b;
    b.weights = w.data();
    Timing t = time_it([&] {
        if (o.grad) sim.jacobian(b, &value, dw.data(), nullptr);
        else sim.expval(b, &value);
    }, o.repeats, o.warmup);
    // State traffic: the forward pass touches the state once per op (read + write); the adjoint sweep
    // touches phi and lambda once per op.
    const double state_bytes = double(size_t(1) << n) * amp_bytes;
    const double passes = double(ops.size()) * (o.grad ? 3.0 : 1.0);
    const double gbs = 2.0 * state_bytes * passes / t.median / 1e9;
    print(o, n, t, value, gbs, copy_bandwidth(n, amp_bytes, o.repeats));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::fputs(kHelp, stdout);
        return args.empty() ? 2 : 0;
    }
    o.workload = args[0];
    auto need = [&](size_t& i) -> std::string {
        if (i + 1 >= args.size()) {
            std::fprintf(stderr, "pyqml-bench: %s needs a value\n", args[i].c_str());
            std::exit(2);
        }
        return args[++i];
    };
    try {
        for (size_t i = 1; i < args.size(); ++i) {
            const std::string& a = args[i];
            if (a == "--n") o.n = std::stoi(need(i));
            else if (a == "--layers") o.layers = std::stoi(need(i));
            else if (a == "--depth") o.depth = std::stoi(need(i));
            else if (a == "--rows") o.rows = std::stoi(need(i));
            else if (a == "--cols") o.cols = std::stoi(need(i));
            else if (a == "--p") o.p = std::stoi(need(i));
            else if (a == "--threads") o.threads = std::stoi(need(i));
            else if (a == "--repeats") o.repeats = std::max(1, std::stoi(need(i)));
            else if (a == "--warmup") o.warmup = std::max(0, std::stoi(need(i)));
            else if (a == "--precision") o.precision = need(i);
            else if (a == "--grad") o.grad = true;
            else if (a == "--vjp") o.vjp = true;
            else if (a == "--no-dx") o.no_dx = true;
            else if (a == "--no-shared-suffix") o.no_shared_suffix = true;
            else if (a == "--pair") o.pair = true;
            else if (a == "--shared-suffix") o.force_shared = true;
            else if (a == "--help" || a == "-h") {
                std::fputs(kHelp, stdout);
                return 0;
            } else {
                std::fprintf(stderr, "pyqml-bench: unknown option '%s' (see --help)\n", a.c_str());
                return 2;
            }
        }
        if (o.precision != "complex128" && o.precision != "complex64") {
            std::fprintf(stderr, "pyqml-bench: --precision must be complex128 or complex64\n");
            return 2;
        }
#ifdef PYQML_HAVE_OPENMP
        if (o.threads > 0) omp_set_num_threads(o.threads);
#endif
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pyqml-bench: %s\n", e.what());
        return 1;
    }
}
