// State-vector engine: every kernel against the dense reference, and the adjoint Jacobian against central
// finite differences, in complex128 and complex64.
#include <cmath>
#include <random>

#include "catch_compat.hpp"
#include "dense_reference.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/statevector/simulator.hpp"

using namespace pyqml;
using namespace pyqml::gates;

namespace {

// A random circuit on n wires using every gate of the table (QubitUnitary with a fixed unitary), all angles
// trainable weights.
Circuit random_circuit(int n, std::mt19937_64& rng, int repeats = 2) {
    std::vector<Op> ops;
    int nw = 0;
    std::uniform_int_distribution<int> wire(0, n - 1);
    for (int rep = 0; rep < repeats; ++rep)
        for (const auto& g : all_gates()) {
            int k = g.n_wires > 0 ? g.n_wires : (g.id == GateId::MultiRZ ? n : 2);
            if (k > n) continue;
            Op op;
            op.gate = g.id;
            while (static_cast<int>(op.wires.size()) < k) {
                int w = wire(rng);
                if (std::find(op.wires.begin(), op.wires.end(), w) == op.wires.end()) op.wires.push_back(w);
            }
            for (int p = 0; p < g.n_params; ++p) op.params.push_back({ParamRef::Weight, nw++, 1.0, 0.0});
            if (g.id == GateId::QubitUnitary) {
                // (H x RY(0.4)) CNOT: unitary, not diagonal, not controlled.
                const double t = 0.4;
                auto cx = full_matrix(GateId::CNOT, 2, nullptr);
                auto ry = full_matrix(GateId::RY, 1, &t);
                auto h = full_matrix(GateId::H, 1, nullptr);
                test::cvec hr(16);
                for (int r = 0; r < 4; ++r)
                    for (int c = 0; c < 4; ++c) hr[r * 4 + c] = h[(r >> 1) * 2 + (c >> 1)] * ry[(r & 1) * 2 + (c & 1)];
                op.unitary.assign(16, 0.0);
                for (int r = 0; r < 4; ++r)
                    for (int c = 0; c < 4; ++c)
                        for (int m = 0; m < 4; ++m) op.unitary[r * 4 + c] += hr[r * 4 + m] * cx[m * 4 + c];
            }
            ops.push_back(op);
        }
    return Circuit(n, ops, nw, 0);
}

test::cvec dense_run(const Circuit& c, const std::vector<double>& w) {
    const int n = c.n_wires();
    test::cvec psi(size_t(1) << n, 0.0);
    psi[0] = 1;
    std::vector<double> angles(c.n_angles());
    c.bind(w.data(), nullptr, angles.data());
    for (size_t i = 0; i < c.ops().size(); ++i) {
        const Op& op = c.ops()[i];
        auto g = op.gate == GateId::QubitUnitary
                     ? op.unitary
                     : full_matrix(op.gate, static_cast<int>(op.wires.size()), angles.data() + c.angle_offset(i));
        psi = test::matvec(test::embed(g, n, op.wires), psi);
    }
    return psi;
}

Observable zz_plus_x(int n) {
    Observable o;
    o.terms.push_back({0.7, {0, n - 1}, "ZZ"});
    o.terms.push_back({-0.4, {1}, "X"});
    o.terms.push_back({0.25, {0, 1}, "YX"});
    return o;
}

}  // namespace

TEST_CASE("state-vector kernels agree with dense matrices for every gate", "[statevector]") {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    for (int n : {3, 5, 11}) {  // 11: past the run-based kernels threshold, MultiRZ on 11 wires
        Circuit c = random_circuit(n, rng);
        std::vector<double> w(c.n_weights());
        for (auto& x : w) x = u(rng);
        sv::Simulator sim(c, {}, sv::Precision::Double);
        test::cvec out(size_t(1) << n);
        sv::Batch b;
        b.weights = w.data();
        sim.state(b, out.data());
        CHECK(test::max_diff(out, dense_run(c, w)) < 1e-12);
    }
}

TEST_CASE("adjoint Jacobian matches central finite differences", "[statevector][adjoint]") {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    const int n = 4;
    Circuit c = random_circuit(n, rng, 1);
    std::vector<double> w(c.n_weights());
    for (auto& x : w) x = u(rng);
    Observable z0;
    z0.terms.push_back({1.0, {0}, "Z"});
    for (auto prec : {sv::Precision::Double, sv::Precision::Single}) {
        sv::Simulator sim(c, {zz_plus_x(n), z0}, prec);
        const int no = 2, nw = c.n_weights();
        std::vector<double> vals(no), dw(no * nw);
        sv::Batch b;
        b.weights = w.data();
        sim.jacobian(b, vals.data(), dw.data(), nullptr);
        const double tol = prec == sv::Precision::Double ? 1e-8 : 2e-4;
        sv::Simulator ref(c, {zz_plus_x(n), z0}, sv::Precision::Double);
        for (int k = 0; k < nw; ++k) {
            const double h = 1e-5;
            auto wp = w, wm = w;
            wp[k] += h;
            wm[k] -= h;
            std::vector<double> fp(no), fm(no);
            sv::Batch bp = b, bm = b;
            bp.weights = wp.data();
            bm.weights = wm.data();
            ref.expval(bp, fp.data());
            ref.expval(bm, fm.data());
            for (int o = 0; o < no; ++o) CHECK(std::abs(dw[o * nw + k] - (fp[o] - fm[o]) / (2 * h)) < tol);
        }
        // The VJP with cotangent e_0 is the first row of the Jacobian.
        std::vector<double> cot = {1.0, 0.0}, v2(no), g(nw);
        sim.vjp(b, cot.data(), v2.data(), g.data(), nullptr);
        for (int k = 0; k < nw; ++k) CHECK(std::abs(g[k] - dw[k]) < (prec == sv::Precision::Double ? 1e-12 : 1e-5));
    }
}

TEST_CASE("expectation values agree with the dense reference", "[statevector]") {
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    const int n = 4;
    Circuit c = random_circuit(n, rng, 1);
    std::vector<double> w(c.n_weights());
    for (auto& x : w) x = u(rng);
    auto psi = dense_run(c, w);
    // <psi|H|psi> with H built densely from Pauli matrices.
    const test::cvec X = {0, 1, 1, 0}, Y = {0, cplx(0, -1), cplx(0, 1), 0}, Z = {1, 0, 0, -1};
    auto h = test::embed({1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1}, n, {0, n - 1});  // ZZ
    auto x1 = test::embed(X, n, {1});
    auto yx = test::embed({0, 0, 0, cplx(0, -1), 0, 0, cplx(0, -1), 0, 0, cplx(0, 1), 0, 0, cplx(0, 1), 0, 0, 0}, n, {0, 1});
    test::cvec hv(psi.size(), 0.0);
    auto a = test::matvec(h, psi), bx = test::matvec(x1, psi), cy = test::matvec(yx, psi);
    double expect = 0;
    for (size_t i = 0; i < psi.size(); ++i)
        expect += (std::conj(psi[i]) * (0.7 * a[i] - 0.4 * bx[i] + 0.25 * cy[i])).real();
    sv::Simulator sim(c, {zz_plus_x(n)}, sv::Precision::Double);
    double got = 0;
    sv::Batch b;
    b.weights = w.data();
    sim.expval(b, &got);
    CHECK(std::abs(got - expect) < 1e-12);
}

TEST_CASE("bad input is refused with InvalidInput, oversize registers with MemoryLimitExceeded", "[statevector]") {
    Op op;
    op.gate = GateId::CNOT;
    op.wires = {0, 0};
    CHECK_THROWS_AS(Circuit(2, {op}, 0, 0), InvalidInput);
    op.wires = {0, 5};
    CHECK_THROWS_AS(Circuit(2, {op}, 0, 0), InvalidInput);
    Op rx;
    rx.gate = GateId::RX;
    rx.wires = {0};
    rx.params = {{ParamRef::Weight, 0, 1.0, 0.0}};
    Circuit c(1, {rx}, 1, 0);
    const double nan = std::nan("");
    sv::Simulator sim(c, {}, sv::Precision::Double);
    std::vector<cplx> out(2);
    sv::Batch b;
    b.weights = &nan;
    CHECK_THROWS_AS(sim.state(b, out.data()), InvalidInput);

    Circuit big(34, {}, 0, 0);
    set_memory_limit(1e9);
    sv::Simulator bigsim(big, {}, sv::Precision::Double);
    double v = 0;
    sv::Batch bb;
    CHECK_THROWS_AS(bigsim.expval(bb, &v), MemoryLimitExceeded);
    set_memory_limit(0);
}
