// cuda::TensorNet on the host emulation (run.sh) against tn::Executor on the same plans.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include "random_circuit.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/cuda/tensornet_gpu.hpp"
#include "pyqml/tensornet/executor.hpp"
#include "pyqml/tensornet/network.hpp"
using namespace pyqml;
size_t emu_live();
extern size_t g_free;
static int fails = 0;
static double worst = 0;
static void cmp(const std::vector<double>& a, const std::vector<double>& b, double tol, const char* what) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    worst = std::max(worst, m);
    if (!(m <= tol)) { ++fails; std::printf("FAIL %s: max diff %.3e\n", what, m); }
}
static void plan_all(tn::Executor& ex, int slice_labels) {
    for (int s = 0; s < ex.n_structures(); ++s) {
        auto p = tn::greedy_plan(ex.structure(s));
        if (slice_labels > 0) {
            // Slice the first labels of the leaf with the most labels.
            const auto& L = p->leaves();
            size_t best = 0;
            for (size_t i = 0; i < L.size(); ++i) if (L[i].labels.size() > L[best].labels.size()) best = i;
            std::vector<int> sl(L[best].labels.begin(), L[best].labels.begin() + std::min<size_t>(slice_labels, L[best].labels.size()));
            p = std::make_shared<tn::ContractionPlan>(p->gates(), p->leaves(), p->steps(), sl);
        }
        ex.set_plan(s, p);
    }
}
static void run_case(const char* name, const Circuit& c, const std::vector<Observable>& obs, Precision prec,
                     int rows, int slice_labels, int recompute, double free_bytes) {
    g_free = size_t(free_bytes);
    tn::Executor ex(c, obs, prec);
    ex.set_recompute(recompute);
    plan_all(ex, slice_labels);
    {
        cuda::TensorNet gpu(ex, 0);
        // tight: the free memory at which the largest group holds 3 contractions (set before each call).
        auto tighten = [&](bool grads) {
            if (free_bytes >= 10) return;
            g_free = size_t(gpu.estimated_bytes(rows, grads));
            for (;;) {
                auto gs = gpu.group_sizes(rows, grads);
                int64_t mx = 0;
                for (auto v : gs) mx = std::max(mx, v);
                if (mx >= 3) break;
                g_free = size_t(double(g_free) * 1.03) + 64;
            }
        };
        std::mt19937_64 rng(rows * 7 + 1);
        std::uniform_real_distribution<double> u(-3, 3);
        const int nw = c.n_weights(), nx = c.n_inputs(), no = int(obs.size());
        std::vector<double> w(size_t(rows) * nw), x(size_t(rows) * nx), cot(size_t(rows) * no);
        for (auto& v : w) v = u(rng);
        for (auto& v : x) v = u(rng);
        for (auto& v : cot) v = u(rng);
        const double tol = prec == Precision::Double ? 1e-12 : 1e-5;
        for (int per_row = 0; per_row < 2; ++per_row) {
            Batch b;
            b.weights = w.data();
            b.weights_per_row = per_row;
            b.inputs = nx ? x.data() : nullptr;
            b.rows = rows;
            std::vector<double> v1(rows * no), v2(rows * no);
            ex.expval(b, v1.data());
            tighten(false);
            gpu.expval(b, v2.data());
            cmp(v1, v2, tol, (std::string(name) + " expval").c_str());
            std::vector<double> dw1(rows * no * nw), dw2(dw1.size()), dx1(rows * no * nx), dx2(dx1.size());
            ex.jacobian(b, v1.data(), dw1.data(), dx1.data());
            tighten(true);
            gpu.jacobian(b, v2.data(), dw2.data(), dx2.data());
            cmp(v1, v2, tol, (std::string(name) + " jac vals").c_str());
            cmp(dw1, dw2, 10 * tol, (std::string(name) + " jac dw").c_str());
            cmp(dx1, dx2, 10 * tol, (std::string(name) + " jac dx").c_str());
            std::vector<double> vw1(per_row ? rows * nw : nw), vw2(vw1.size()), vx1(rows * nx), vx2(vx1.size());
            ex.vjp(b, cot.data(), v1.data(), vw1.data(), vx1.data());
            tighten(true);
            gpu.vjp(b, cot.data(), v2.data(), vw2.data(), vx2.data());
            cmp(vw1, vw2, 10 * tol, (std::string(name) + " vjp dw").c_str());
            cmp(vx1, vx2, 10 * tol, (std::string(name) + " vjp dx").c_str());
        }
        auto gs = gpu.group_sizes(rows, true);
        auto ls = gpu.layouts(rows, true);
        std::printf("%-28s rows %d: structures %d, groups", name, rows, ex.n_structures());
        for (size_t i = 0; i < gs.size() && i < 4; ++i) std::printf(" %lld/l%d", (long long)gs[i], ls[i]);
        std::printf(", need %.3g B\n", gpu.estimated_bytes(rows, true));
    }
    if (emu_live() != 0) { ++fails; std::printf("FAIL %s: %zu device buffers leaked\n", name, emu_live()); }
}
int main() {
    using gates::GateId;
    std::mt19937_64 rng(3);
    for (Precision p : {Precision::Double, Precision::Single}) {
        const bool d = p == Precision::Double;
        Circuit c = test::random_circuit(6, rng, 1);
        Observable z1;
        z1.terms.push_back({1.0, {5}, "Z"});
        z1.terms.push_back({0.3, {}, ""});
        std::vector<Observable> obs = {test::zz_plus_x(6), z1};
        run_case(d ? "random6 f64" : "random6 f32", c, obs, p, 5, 0, 0, 1e9);
        run_case(d ? "random6 f64 small groups" : "random6 f32 small groups", c, obs, p, 5, 0, 0, 1.0);
        run_case(d ? "random6 f64 sliced" : "random6 f32 sliced", c, obs, p, 3, 2, 0, 1e9);
        run_case(d ? "random6 f64 sliced tight" : "random6 f32 sliced tight", c, obs, p, 3, 2, 0, 1.0);
        run_case(d ? "random6 f64 recompute" : "random6 f32 recompute", c, obs, p, 3, 0, 2, 1e9);
    }
    // Brickwork: many terms per structure.
    const int n = 24;
    std::vector<Op> ops;
    int k = 0;
    for (int l = 0; l < 3; ++l)
        for (int par = 0; par < 2; ++par) {
            for (int q = 0; q < n; ++q) ops.push_back({GateId::RY, {q}, {{ParamRef::Weight, k++, 1.0, 0.0}}, {}});
            for (int q = par; q + 1 < n; q += 2) ops.push_back({GateId::CZ, {q, q + 1}, {}, {}});
        }
    Circuit bw(n, ops, k, 0);
    Observable H;
    for (int q = 0; q + 1 < n; ++q) H.terms.push_back({1.0, {q, q + 1}, "ZZ"});
    for (int q = 0; q < n; ++q) H.terms.push_back({0.5, {q}, "X"});
    run_case("brickwork24", bw, {H}, Precision::Double, 4, 0, 0, 1e9);
    run_case("brickwork24 small groups", bw, {H}, Precision::Double, 4, 0, 0, 1.0);
    run_case("brickwork24 sliced+recompute", bw, {H}, Precision::Double, 2, 1, 2, 1e9);
    run_case("brickwork24 sl+rc tight", bw, {H}, Precision::Double, 3, 1, 2, 1.0);
    // Fused cx-rz-cx blocks, inputs, and noise channels with trainable parameters (superoperator leaves).
    {
        using gates::ChannelId;
        std::vector<Op> f;
        int kw = 0;
        for (int q = 0; q < 6; ++q) f.push_back({GateId::RX, {q}, {{ParamRef::Input, q % 2, 0.7, 0.1}}, {}});
        for (int l = 0; l < 2; ++l) {
            for (int q = 0; q + 1 < 6; ++q) {
                f.push_back({GateId::CNOT, {q, q + 1}, {}, {}});
                f.push_back({GateId::RZ, {q + 1}, {{ParamRef::Weight, kw++, 1.0, 0.0}}, {}});
                f.push_back({GateId::CNOT, {q, q + 1}, {}, {}});
            }
            for (int q = 0; q < 6; ++q) f.push_back({GateId::RY, {q}, {{ParamRef::Weight, kw++, 1.0, 0.0}}, {}});
            for (int q = 0; q < 6; q += 2) {
                Op ch{GateId::I, {q}, {{ParamRef::Weight, kw++, 0.05, 0.15}}, {}};
                ch.channel = ChannelId::DepolarizingChannel;
                f.push_back(ch);
            }
            Op ad{GateId::I, {1}, {{ParamRef::Const, 0, 1.0, 0.1}}, {}};
            ad.channel = ChannelId::AmplitudeDamping;
            f.push_back(ad);
        }
        Circuit fc(6, f, kw, 2);
        Observable e;
        for (int q = 0; q + 1 < 6; ++q) e.terms.push_back({1.0, {q, q + 1}, "ZZ"});
        e.terms.push_back({0.4, {3}, "X"});
        run_case("fused+noise f64", fc, {e}, Precision::Double, 4, 0, 0, 1e9);
        run_case("fused+noise f64 tight", fc, {e}, Precision::Double, 4, 0, 0, 1.0);
        run_case("fused+noise f32", fc, {e}, Precision::Single, 3, 0, 0, 1e9);
    }
    // The guard: a device with almost no free memory.
    {
        tn::Executor ex(bw, {H}, Precision::Double);
        plan_all(ex, 0);
        cuda::TensorNet gpu(ex, 0);
        g_free = 1000;
        std::vector<double> w(k, 0.1), v(1);
        Batch b;
        b.weights = w.data();
        try {
            gpu.expval(b, v.data());
            ++fails;
            std::printf("FAIL guard: no exception\n");
        } catch (const MemoryLimitExceeded& e) {
            std::printf("guard: %s\n", e.what());
        }
        g_free = size_t(1) << 30;
        gpu.expval(b, v.data());
        std::vector<double> v1(1);
        ex.expval(b, v1.data());
        cmp(v, v1, 1e-12, "after guard");
    }
    std::printf("worst diff %.3e; %d failure(s)\n", worst, fails);
    return fails ? 1 : 0;
}
