// The gate table: ids, unitarity, derivatives against finite differences, and hand-written matrices.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "catch_compat.hpp"
#include "dense_reference.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/gates/gate_table.hpp"

using namespace pyqml;
using namespace pyqml::gates;

namespace {
int wires_for(const GateSpec& g) { return g.n_wires > 0 ? g.n_wires : 3; }
}  // namespace

TEST_CASE("gate table entries sit at their ids and have unique names", "[gates]") {
    const auto& all = all_gates();
    REQUIRE(all.size() == static_cast<size_t>(GateId::Count));
    for (size_t i = 0; i < all.size(); ++i) {
        CHECK(static_cast<size_t>(all[i].id) == i);
        CHECK(gate_by_name(all[i].name).value() == all[i].id);
    }
    CHECK_FALSE(gate_by_name("NoSuchGate").has_value());
}

TEST_CASE("every parametrised gate is unitary and its derivative matches finite differences", "[gates]") {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    for (const auto& g : all_gates()) {
        if (g.id == GateId::QubitUnitary) continue;
        const int nw = wires_for(g);
        const size_t dim = size_t(1) << nw;
        std::vector<double> p(g.n_params);
        for (auto& x : p) x = u(rng);
        auto m = full_matrix(g.id, nw, p.data());
        double err = 0;
        for (size_t r = 0; r < dim; ++r)
            for (size_t c = 0; c < dim; ++c) {
                cplx s = 0;
                for (size_t k = 0; k < dim; ++k) s += std::conj(m[k * dim + r]) * m[k * dim + c];
                err = std::max(err, std::abs(s - (r == c ? 1.0 : 0.0)));
            }
        INFO(g.name);
        CHECK(err < 1e-13);
        for (int k = 0; k < g.n_params; ++k) {
            const double h = 1e-5;
            auto pp = p, pm = p;
            pp[k] += h;
            pm[k] -= h;
            auto mp = full_matrix(g.id, nw, pp.data()), mm = full_matrix(g.id, nw, pm.data());
            auto d = full_dmatrix(g.id, nw, p.data(), k);
            double derr = 0;
            for (size_t i = 0; i < dim * dim; ++i) derr = std::max(derr, std::abs(d[i] - (mp[i] - mm[i]) / (2 * h)));
            CHECK(derr < 1e-9);
        }
    }
}

TEST_CASE("matrices follow PennyLane's conventions", "[gates]") {
    const double t = 0.37, c = std::cos(t / 2), s = std::sin(t / 2);
    const cplx i(0, 1);
    auto rx = full_matrix(GateId::RX, 1, &t);
    CHECK(std::abs(rx[0] - c) < 1e-15);
    CHECK(std::abs(rx[1] + i * s) < 1e-15);
    auto crz = full_matrix(GateId::CRZ, 2, &t);
    CHECK(std::abs(crz[0] - 1.0) < 1e-15);
    CHECK(std::abs(crz[10] - std::exp(-i * t / 2.0)) < 1e-15);
    CHECK(std::abs(crz[15] - std::exp(i * t / 2.0)) < 1e-15);
    // CNOT: control is the first wire (most significant bit): |10> -> |11>.
    auto cx = full_matrix(GateId::CNOT, 2, nullptr);
    CHECK(std::abs(cx[3 * 4 + 2] - 1.0) < 1e-15);
    CHECK(std::abs(cx[2 * 4 + 3] - 1.0) < 1e-15);
    // Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)
    const double p[3] = {0.3, -1.1, 2.2};
    auto rot = full_matrix(GateId::Rot, 1, p);
    auto rzp = full_matrix(GateId::RZ, 1, &p[0]), ry = full_matrix(GateId::RY, 1, &p[1]),
         rzo = full_matrix(GateId::RZ, 1, &p[2]);
    auto mul = [](const test::cvec& a, const test::cvec& b) {
        return test::cvec{a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2],
                          a[2] * b[1] + a[3] * b[3]};
    };
    CHECK(test::max_diff(rot, mul(rzo, mul(ry, rzp))) < 1e-15);
    // MultiRZ on 3 wires: e^{-i t/2} on even parity, e^{+i t/2} on odd.
    auto mrz = full_matrix(GateId::MultiRZ, 3, &t);
    CHECK(std::abs(mrz[0] - std::exp(-i * t / 2.0)) < 1e-15);
    CHECK(std::abs(mrz[1 * 8 + 1] - std::exp(i * t / 2.0)) < 1e-15);
    CHECK(std::abs(mrz[3 * 8 + 3] - std::exp(-i * t / 2.0)) < 1e-15);
}

TEST_CASE("gate wire counts are enforced", "[gates]") {
    CHECK_THROWS_AS(gate_wire_count(GateId::CNOT, 3), InvalidInput);
    CHECK_THROWS_AS(gate_wire_count(GateId::QubitUnitary, 4), InvalidInput);
    CHECK(gate_wire_count(GateId::MultiRZ, 5) == 5);
}

TEST_CASE("structural patterns bound every gate's nonzeros and match its per-wire diagonality", "[gates]") {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    for (const auto& g : all_gates()) {
        if (g.id == GateId::QubitUnitary) continue;
        for (int nw : g.n_wires > 0 ? std::vector<int>{g.n_wires} : std::vector<int>{1, 2, 3}) {
            const size_t dim = size_t(1) << nw;
            const std::vector<char> pat = full_pattern(g.id, nw);
            REQUIRE(pat.size() == dim * dim);
            // Sound: zero wherever the pattern says so, at random angles; tight: every pattern entry is
            // nonzero at some of them.
            std::vector<char> seen(dim * dim, 0);
            for (int trial = 0; trial < 4; ++trial) {
                std::vector<double> p(g.n_params);
                for (auto& x : p) x = u(rng);
                auto m = full_matrix(g.id, nw, p.data());
                for (size_t i = 0; i < dim * dim; ++i) {
                    if (!pat[i]) CHECK(std::abs(m[i]) == 0.0);
                    if (std::abs(m[i]) > 1e-12) seen[i] = 1;
                    for (int k = 0; k < g.n_params; ++k)
                        if (!pat[i]) CHECK(std::abs(full_dmatrix(g.id, nw, p.data(), k)[i]) == 0.0);
                }
            }
            CHECK(seen == pat);
            for (int j = 0; j < nw; ++j) CHECK(pattern_diagonal_on_wire(pat, nw, j) == diagonal_on_wire(g.id, j));
        }
    }
    // A few by hand: CNOT is a permutation, diagonal on its control only; QubitUnitary is dense.
    const std::vector<char> cx = full_pattern(GateId::CNOT, 2);
    CHECK(cx == std::vector<char>{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0});
    CHECK(diagonal_on_wire(GateId::CNOT, 0));
    CHECK_FALSE(diagonal_on_wire(GateId::CNOT, 1));
    const std::vector<char> qu = full_pattern(GateId::QubitUnitary, 2);
    CHECK(std::count(qu.begin(), qu.end(), 1) == 16);
}

TEST_CASE("generators reproduce each one-parameter gate up to a global phase", "[gates]") {
    // U(t) = exp(-i t G) up to a phase: U(t) U(0)^dag = e^{i phi} exp(-i t G), so for the Hermitian G built from
    // the table, U(t) exp(i t G) must be a multiple of the identity.
    auto pauli = [](char p) -> std::vector<cplx> {
        const cplx i1(0, 1);
        if (p == 'X') return {0, 1, 1, 0};
        if (p == 'Y') return {0, -i1, i1, 0};
        if (p == 'Z') return {1, 0, 0, -1};
        return {1, 0, 0, 1};
    };
    for (const auto& g : all_gates()) {
        if (g.generators.empty()) continue;
        REQUIRE(static_cast<int>(g.generators.size()) == g.n_params);
        REQUIRE(g.n_params == 1);
        const int nw = g.n_wires > 0 ? g.n_wires : 3;
        const size_t dim = size_t(1) << nw;
        // G as a dense matrix.
        std::vector<cplx> G(dim * dim, 0.0);
        for (const auto& t : g.generators[0]) {
            std::string ls = t.paulis;
            if (g.n_wires < 0) ls = std::string(nw, ls[0]);
            REQUIRE(static_cast<int>(ls.size()) == nw);
            std::vector<cplx> m{1.0};
            size_t d = 1;
            for (char p : ls) {
                auto q = pauli(p);
                std::vector<cplx> out(d * 2 * d * 2);
                for (size_t r = 0; r < d; ++r)
                    for (size_t c = 0; c < d; ++c)
                        for (int a = 0; a < 2; ++a)
                            for (int b = 0; b < 2; ++b) out[(r * 2 + a) * (2 * d) + c * 2 + b] = m[r * d + c] * q[a * 2 + b];
                m.swap(out);
                d *= 2;
            }
            for (size_t i = 0; i < dim * dim; ++i) G[i] += t.coeff * m[i];
        }
        // exp(i t G) by its Taylor series (|t G| <= ~1.5).
        const double t = 0.83;
        std::vector<cplx> e(dim * dim, 0.0), term(dim * dim, 0.0), tmp(dim * dim);
        for (size_t r = 0; r < dim; ++r) e[r * dim + r] = term[r * dim + r] = 1.0;
        for (int k = 1; k < 40; ++k) {
            for (size_t r = 0; r < dim; ++r)
                for (size_t c = 0; c < dim; ++c) {
                    cplx s = 0;
                    for (size_t j = 0; j < dim; ++j) s += term[r * dim + j] * G[j * dim + c];
                    tmp[r * dim + c] = s * cplx(0, t / k);
                }
            term = tmp;
            for (size_t i = 0; i < dim * dim; ++i) e[i] += term[i];
        }
        auto U = full_matrix(g.id, nw, &t);
        std::vector<cplx> prod(dim * dim);
        for (size_t r = 0; r < dim; ++r)
            for (size_t c = 0; c < dim; ++c) {
                cplx s = 0;
                for (size_t j = 0; j < dim; ++j) s += U[r * dim + j] * e[j * dim + c];
                prod[r * dim + c] = s;
            }
        const cplx phase = prod[0];
        CHECK(std::abs(std::abs(phase) - 1.0) < 1e-12);
        for (size_t r = 0; r < dim; ++r)
            for (size_t c = 0; c < dim; ++c) CHECK(std::abs(prod[r * dim + c] - (r == c ? phase : cplx(0))) < 1e-12);
    }
}
