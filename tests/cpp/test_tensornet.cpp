// Tensor-network method, planned entirely in C++ (C++ network builder + greedy path): values and
// reverse-mode gradients against the state-vector method on random circuits over every gate.
#include <cmath>
#include <random>

#include "catch_compat.hpp"
#include "random_circuit.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/statevector/simulator.hpp"
#include "pyqml/tensornet/executor.hpp"
#include "pyqml/tensornet/network.hpp"

using namespace pyqml;

namespace {

void plan_all(tn::Executor& ex) {
    for (int s = 0; s < ex.n_structures(); ++s) ex.set_plan(s, tn::greedy_plan(ex.structure(s)));
}

}  // namespace

TEST_CASE("tensor network agrees with the state vector on values and gradients", "[tensornet]") {
    std::mt19937_64 rng(21);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    for (int n : {3, 6}) {
        Circuit c = test::random_circuit(n, rng, 1);
        std::vector<double> w(c.n_weights());
        for (auto& x : w) x = u(rng);
        Observable z1;
        z1.terms.push_back({1.0, {n - 1}, "Z"});
        const std::vector<Observable> obs = {test::zz_plus_x(n), z1};
        sv::Simulator sim(c, obs, Precision::Double);
        tn::Executor ex(c, obs, Precision::Double);
        plan_all(ex);
        Batch b;
        b.weights = w.data();
        const int no = 2, nw = c.n_weights();
        std::vector<double> v_sv(no), v_tn(no), g_sv(no * nw), g_tn(no * nw);
        sim.jacobian(b, v_sv.data(), g_sv.data(), nullptr);
        ex.jacobian(b, v_tn.data(), g_tn.data(), nullptr);
        for (int o = 0; o < no; ++o) CHECK(std::abs(v_sv[o] - v_tn[o]) < 1e-10);
        for (int k = 0; k < no * nw; ++k) CHECK(std::abs(g_sv[k] - g_tn[k]) < 1e-10);
    }
}

TEST_CASE("light cones keep wide circuits local, and oversize networks are refused", "[tensornet]") {
    // 40 wires: a brickwork of depth 2 around <Z_20>; only a few wires enter the cone.
    const int n = 40;
    std::vector<Op> ops;
    int k = 0;
    for (int l = 0; l < 2; ++l)
        for (int parity = 0; parity < 2; ++parity) {
            for (int q = 0; q < n; ++q) ops.push_back({gates::GateId::RY, {q}, {{ParamRef::Weight, k++, 1.0, 0.0}}, {}});
            for (int q = parity; q + 1 < n; q += 2) ops.push_back({gates::GateId::CZ, {q, q + 1}, {}, {}});
        }
    Circuit c(n, ops, k, 0);
    Observable z;
    z.terms.push_back({1.0, {20}, "Z"});
    tn::Executor ex(c, {z}, Precision::Double);
    REQUIRE(ex.n_terms() == 1);
    CHECK(ex.term_cone(0).wires.size() <= 10);
    plan_all(ex);
    std::vector<double> w(k, 0.0);
    Batch b;
    b.weights = w.data();
    double v = 0;
    ex.expval(b, &v);
    CHECK(std::abs(v - 1.0) < 1e-12);  // all angles zero: the state stays |0...0>

    set_memory_limit(1.0);  // one byte: every network is too large
    CHECK_THROWS_AS(ex.expval(b, &v), MemoryLimitExceeded);
    set_memory_limit(0);
}

TEST_CASE("amplitude networks planned in C++ agree with the state vector", "[tensornet]") {
    std::mt19937_64 rng(33);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    const int n = 5;
    Circuit c = test::random_circuit(n, rng, 1);
    std::vector<double> w(c.n_weights());
    for (auto& x : w) x = u(rng);
    Batch b;
    b.weights = w.data();
    sv::Simulator sim(c, {test::zz_plus_x(n)}, Precision::Double);
    std::vector<cplx> psi(size_t(1) << n);
    sim.state(b, psi.data());
    for (int idx : {0, 5, 19, 31}) {
        std::vector<int> bits(n);
        for (int k = 0; k < n; ++k) bits[k] = (idx >> (n - 1 - k)) & 1;
        auto plan = tn::greedy_amplitude_plan(c, bits);
        // Forward only: an amplitude plan has no environments to keep.
        CHECK(plan->workspace_elements(false) <= plan->workspace_elements(true));
        cplx a = 0;
        tn::amplitudes(c, *plan, b, Precision::Double, &a);
        CHECK(std::abs(a - psi[idx]) < 1e-10);
    }
    CHECK_THROWS_AS(tn::build_amplitude_network(c, std::vector<int>(n + 1, 0)), InvalidInput);
}

TEST_CASE("the memory guard checks the workspace the call allocates", "[tensornet]") {
    std::mt19937_64 rng(44);
    Circuit c = test::random_circuit(6, rng, 1);
    const std::vector<Observable> obs = {test::zz_plus_x(6)};
    tn::Executor ex(c, obs, Precision::Double);
    plan_all(ex);
    std::vector<double> w(c.n_weights(), 0.4), v(1), dw(c.n_weights());
    Batch b;
    b.weights = w.data();
    ex.expval(b, v.data());  // builds the permutation tables, which the estimates then no longer count
    const double fwd = ex.estimated_bytes(1, false), grad = ex.estimated_bytes(1, true);
    REQUIRE(fwd < grad);
    set_memory_limit((fwd + grad) / 2);
    CHECK_NOTHROW(ex.expval(b, v.data()));
    CHECK_THROWS_AS(ex.jacobian(b, v.data(), dw.data(), nullptr), MemoryLimitExceeded);
    set_memory_limit(0);
    CHECK_NOTHROW(ex.jacobian(b, v.data(), dw.data(), nullptr));
}
