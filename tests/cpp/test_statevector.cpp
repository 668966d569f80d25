// State-vector engine: every kernel against the dense reference, and the adjoint Jacobian against central
// finite differences, in complex128 and complex64.
#include <algorithm>
#include <cmath>
#include <random>

#include "catch_compat.hpp"
#include "dense_reference.hpp"
#include "random_circuit.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/statevector/simulator.hpp"

using namespace pyqml;
using namespace pyqml::gates;

namespace {

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

}  // namespace

TEST_CASE("state-vector kernels agree with dense matrices for every gate", "[statevector]") {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    for (int n : {3, 5, 11}) {  // 11: past the run-based kernels threshold, MultiRZ on 11 wires
        Circuit c = test::random_circuit(n, rng);
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
    Circuit c = test::random_circuit(n, rng, 1);
    std::vector<double> w(c.n_weights());
    for (auto& x : w) x = u(rng);
    Observable z0;
    z0.terms.push_back({1.0, {0}, "Z"});
    for (auto prec : {sv::Precision::Double, sv::Precision::Single}) {
        sv::Simulator sim(c, {test::zz_plus_x(n), z0}, prec);
        const int no = 2, nw = c.n_weights();
        std::vector<double> vals(no), dw(no * nw);
        sv::Batch b;
        b.weights = w.data();
        sim.jacobian(b, vals.data(), dw.data(), nullptr);
        const double tol = prec == sv::Precision::Double ? 1e-8 : 2e-4;
        sv::Simulator ref(c, {test::zz_plus_x(n), z0}, sv::Precision::Double);
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
    Circuit c = test::random_circuit(n, rng, 1);
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
    sv::Simulator sim(c, {test::zz_plus_x(n)}, sv::Precision::Double);
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

TEST_CASE("the lane binding's vectorised sine and cosine agree with std::sin and std::cos", "[statevector][lanes]") {
    // |x| <= pi (what the binding passes: half angles and phases reduced as gate_table.cpp reduces them):
    // random points, every multiple of pi/4 and its neighbouring doubles (the quadrant edges and the zeros
    // of sin and cos, where a relative error needs the reduction's extra bits of pi/2), and 0, +-pi.
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> u(-M_PI, M_PI);
    std::vector<double> x;
    for (int i = 0; i < 20000; ++i) x.push_back(u(rng));
    for (int k = -4; k <= 4; ++k) {
        double v = k * (M_PI / 4);
        for (int j = 0; j < 8; ++j) {
            x.push_back(v);
            v = std::nextafter(v, j < 4 ? 10.0 : -10.0);
        }
    }
    for (double v : {0.0, -0.0, M_PI, -M_PI, 1e-300, -1e-300, 1e-9, 0.7853981633974483, 2.356194490192345})
        x.push_back(v);
    x.erase(std::remove_if(x.begin(), x.end(), [](double v) { return std::fabs(v) > M_PI; }), x.end());
    std::vector<double> s(x.size()), c(x.size());
    sv::lane_sincos(x.data(), x.size(), s.data(), c.data());
    for (size_t i = 0; i < x.size(); ++i) {
        const double rs = std::sin(x[i]), rc = std::cos(x[i]);
        // relative error (exact zeros must come out as zeros)
        const double es = rs == 0.0 ? std::fabs(s[i]) : std::fabs(s[i] - rs) / std::fabs(rs);
        const double ec = rc == 0.0 ? std::fabs(c[i]) : std::fabs(c[i] - rc) / std::fabs(rc);
        REQUIRE(es <= 1e-15);
        REQUIRE(ec <= 1e-15);
    }
    // NaN in, NaN out
    const double nan = std::nan("");
    double sn, cn;
    sv::lane_sincos(&nan, 1, &sn, &cn);
    REQUIRE(std::isnan(sn));
    REQUIRE(std::isnan(cn));
}
