// pyqml-bench: times the engine's workloads from C++ (no Python at run time) and prints one JSON line per
// measurement: median/min/max seconds, the value computed (so runs are checkable), and where the limit is
// (achieved memory bandwidth next to a plain copy measured in the same run).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "pyqml/circuit/circuit.hpp"
#include "pyqml/statevector/simulator.hpp"

using namespace pyqml;
using gates::GateId;

namespace {

const char* kHelp = R"(pyqml-bench: time pyqml's engine from C++.

usage: pyqml-bench <workload> [options]

workloads
  sel        StronglyEntanglingLayers on n wires, H = sum_i Z_i: value (and value + gradient with --grad)
  random     random circuit (RX/RY/RZ on every wire, then CNOTs on random pairs) of --depth layers
  qnn        the seed QNN: 4 wires, RX(x_j) embedding, StronglyEntanglingLayers L=2, <Z_i> on every wire,
             values + Jacobian for --rows random input rows (uniform in [-2, 2], seed 1)
  copy       plain memory copy of a 2^n-amplitude state (the bandwidth ceiling)

options
  --n N            wires (default 20; 4 for qnn)
  --layers L       layers for sel (default 4)
  --depth D        layers for random (default 10)
  --rows B         input rows for qnn (default 150)
  --grad           also the adjoint gradient (sel, random)
  --threads T      OpenMP threads (default: all)
  --precision P    complex128 (default) or complex64
  --repeats R      timed repeats (default 5)
  --warmup W       untimed warm-up runs (default 1)
  --help           this text

Each measurement prints one JSON line: {"workload", "n", "threads", "precision", "grad", "median_s", "min_s",
"max_s", "value", "gb_per_s", "copy_gb_per_s"} (qnn: value = <Z_0> of row 0). gb_per_s counts one read and one write of the state per gate
application (forward pass plus, with --grad, the adjoint sweep's states); copy_gb_per_s is a memcpy of a state
of the same size, measured in the same run.
)";

struct Options {
    std::string workload;
    int n = -1, layers = 4, depth = 10, rows = 150, threads = 0, repeats = 5, warmup = 1;
    bool grad = false;
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

int run(const Options& o) {
    const auto prec = o.precision == "complex64" ? sv::Precision::Single : sv::Precision::Double;
    const size_t amp_bytes = prec == sv::Precision::Single ? 8 : 16;
    std::mt19937_64 rng(0);
    std::uniform_real_distribution<double> angle(0.0, 2 * M_PI);

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
        std::vector<double> w(k), x(size_t(o.rows) * n);
        for (auto& v : w) v = angle(rng);
        std::mt19937_64 drng(1);
        std::uniform_real_distribution<double> data(-2.0, 2.0);
        for (auto& v : x) v = data(drng);
        std::vector<double> vals(size_t(o.rows) * n), dw(size_t(o.rows) * n * k), dx(size_t(o.rows) * n * n);
        sv::Batch b;
        b.weights = w.data();
        b.inputs = x.data();
        b.rows = o.rows;
        Timing t = time_it([&] {
            if (o.grad) sim.jacobian(b, vals.data(), dw.data(), dx.data());
            else sim.expval(b, vals.data());
        }, o.repeats, o.warmup);
        print(o, n, t, vals[0], 0.0, 0.0);  // n = 4 wires; --rows rows per call
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
            else if (a == "--threads") o.threads = std::stoi(need(i));
            else if (a == "--repeats") o.repeats = std::max(1, std::stoi(need(i)));
            else if (a == "--warmup") o.warmup = std::max(0, std::stoi(need(i)));
            else if (a == "--precision") o.precision = need(i);
            else if (a == "--grad") o.grad = true;
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
