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
