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

TEST_CASE("cx-rz-cx blocks fuse into diagonal units, plan like IsingZZ and keep exact gradients", "[tensornet][fusion]") {
    using gates::GateId;
    // A ring of 8 wires with chords (triangles), QAOA p=2 written twice: with IsingZZ and as cx; rz; cx
    // (the QASM export form, with a weight per angle).
    const int n = 8;
    const std::vector<std::pair<int, int>> edges = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6},
                                                    {6, 7}, {7, 0}, {0, 2}, {3, 5}, {1, 6}};
    std::vector<Op> native, qasm;
    int nw_q = 0;
    std::vector<double> w_nat = {0.41, -0.73, 0.29, 0.55}, w_q;
    for (int q = 0; q < n; ++q) {
        native.push_back({GateId::H, {q}, {}, {}});
        qasm.push_back({GateId::H, {q}, {}, {}});
    }
    for (int layer = 0; layer < 2; ++layer) {
        for (auto [a, b] : edges) {
            native.push_back({GateId::IsingZZ, {a, b}, {{ParamRef::Weight, 2 * layer, 1.0, 0.0}}, {}});
            qasm.push_back({GateId::CNOT, {a, b}, {}, {}});
            qasm.push_back({GateId::RZ, {b}, {{ParamRef::Weight, nw_q++, 1.0, 0.0}}, {}});
            w_q.push_back(w_nat[2 * layer]);
            qasm.push_back({GateId::CNOT, {a, b}, {}, {}});
        }
        for (int q = 0; q < n; ++q) {
            native.push_back({GateId::RX, {q}, {{ParamRef::Weight, 2 * layer + 1, 1.0, 0.0}}, {}});
            qasm.push_back({GateId::RX, {q}, {{ParamRef::Weight, nw_q++, 1.0, 0.0}}, {}});
            w_q.push_back(w_nat[2 * layer + 1]);
        }
    }
    Circuit cn(n, native, 4, 0), cq(n, qasm, nw_q, 0);
    tn::FusedCircuit fq(cq), fq_off(cq, false);
    CHECK(fq.n_fused() == static_cast<int>(2 * edges.size()));
    CHECK(fq_off.n_fused() == 0);
    for (const auto& u : fq.units())
        if (u.fused()) {
            CHECK(u.ops.size() == 3);
            CHECK(u.diagonal == std::vector<char>{1, 1});
            CHECK(u.name == "[CNOT 0 1; RZ 1; CNOT 0 1]");
        }
    Observable e;
    for (auto [a, b] : edges) e.terms.push_back({1.0, {a, b}, "ZZ"});
    e.terms.push_back({0.5, {3}, "X"});
    const std::vector<Observable> obs = {e};
    tn::Executor en(cn, obs, Precision::Double), eq(cq, obs, Precision::Double);
    plan_all(en);
    plan_all(eq);
    REQUIRE(en.n_terms() == eq.n_terms());
    for (int t = 0; t < en.n_terms(); ++t) {
        const tn::Structure& sn = en.structure(en.term_structure(t));
        const tn::Structure& sq = eq.structure(eq.term_structure(t));
        CHECK(sn.n_wires == sq.n_wires);
        CHECK(sn.gates.size() == sq.gates.size());
        CHECK(tn::greedy_plan(sn)->width() == tn::greedy_plan(sq)->width());
    }
    Batch bn, bq;
    bn.weights = w_nat.data();
    bq.weights = w_q.data();
    double vn = 0, vq = 0;
    std::vector<double> gn(4), gq(nw_q);
    en.jacobian(bn, &vn, gn.data(), nullptr);
    eq.jacobian(bq, &vq, gq.data(), nullptr);
    CHECK(std::abs(vn - vq) < 1e-10);
    // Per-angle gradients of the QASM form against the state vector's adjoint, and summed per layer against
    // the native form (chain rule: each layer's angles are one weight there).
    sv::Simulator sim(cq, obs, Precision::Double);
    double vs = 0;
    std::vector<double> gs(nw_q);
    sim.jacobian(bq, &vs, gs.data(), nullptr);
    CHECK(std::abs(vs - vq) < 1e-10);
    for (int k = 0; k < nw_q; ++k) CHECK(std::abs(gs[k] - gq[k]) < 1e-10);
    std::vector<double> per_layer(4, 0.0);
    int k = 0;
    for (int layer = 0; layer < 2; ++layer) {
        for (size_t i = 0; i < edges.size(); ++i) per_layer[2 * layer] += gq[k++];
        for (int q = 0; q < n; ++q) per_layer[2 * layer + 1] += gq[k++];
    }
    for (int j = 0; j < 4; ++j) CHECK(std::abs(per_layer[j] - gn[j]) < 1e-10);
}

TEST_CASE("fusion leaves native circuits alone and refuses blocks that are not structurally diagonal", "[tensornet][fusion]") {
    using gates::GateId;
    auto rz = [&](int w, int k) { return Op{GateId::RZ, {w}, {{ParamRef::Weight, k, 1.0, 0.0}}, {}}; };
    auto rx = [&](int w, int k) { return Op{GateId::RX, {w}, {{ParamRef::Weight, k, 1.0, 0.0}}, {}}; };
    auto cx = [&](int a, int b) { return Op{GateId::CNOT, {a, b}, {}, {}}; };
    {   // IsingZZ next to RX and H: nothing fuses.
        Circuit c(2, {{GateId::H, {0}, {}, {}}, {GateId::IsingZZ, {0, 1}, {{ParamRef::Weight, 0, 1.0, 0.0}}, {}}, rx(1, 1)}, 2, 0);
        CHECK(tn::FusedCircuit(c).n_fused() == 0);
    }
    {   // cx; rx; cx is not diagonal on the target: no block.
        Circuit c(2, {cx(0, 1), rx(1, 0), cx(0, 1)}, 1, 0);
        CHECK(tn::FusedCircuit(c).n_fused() == 0);
    }
    {   // rx before and after cx; rz; cx stay outside the block, which stays diagonal on both wires.
        Circuit c(2, {rx(0, 0), cx(0, 1), rz(1, 1), cx(0, 1), rx(0, 2), rx(1, 3)}, 4, 0);
        tn::FusedCircuit f(c);
        REQUIRE(f.n_fused() == 1);
        REQUIRE(f.units().size() == 4);
        CHECK(f.units()[1].ops == std::vector<int>{1, 2, 3});
        CHECK(f.units()[1].diagonal == std::vector<char>{1, 1});
    }
    {   // cx with the target first (cx b,a; rz a; cx b,a) and x; rz; x on one wire.
        Circuit c(2, {cx(1, 0), rz(0, 0), cx(1, 0), {GateId::X, {1}, {}, {}}, rz(1, 1), {GateId::X, {1}, {}, {}}}, 2, 0);
        tn::FusedCircuit f(c);
        REQUIRE(f.n_fused() == 2);
        CHECK(f.units()[0].wires == std::vector<int>{1, 0});
        CHECK(f.units()[0].diagonal == std::vector<char>{1, 1});
        CHECK(f.units()[1].wires == std::vector<int>{1});
        CHECK(f.units()[1].diagonal == std::vector<char>{1});
    }
}
