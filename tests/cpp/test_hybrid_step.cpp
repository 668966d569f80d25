// The fused training step (cpp/src/training/hybrid_step.cpp): its loss and gradients against central finite
// differences of its own loss, its update against the pieces run one by one (the engine's forward and VJP,
// the head, the update kernel: the same bits), on the shared-suffix path and off it, and bad construction.
#include <cmath>
#include <random>
#include <vector>

#include "catch_compat.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/statevector/shared_suffix.hpp"
#include "pyqml/statevector/simulator.hpp"
#include "pyqml/training/hybrid_step.hpp"
#include "pyqml/training/steps.hpp"

using namespace pyqml;
using namespace pyqml::training;
using gates::GateId;

namespace {

ParamRef input(int i) { return {ParamRef::Input, i, 1.0, 0.0}; }
ParamRef weight(int i, double scale = 1.0) { return {ParamRef::Weight, i, scale, 0.0}; }

// RY(x0) RY(x1), then a shared ansatz of weights 0..4 (an entangler, rotations) on 2 wires.
Circuit circuit() {
    std::vector<Op> ops;
    ops.push_back({GateId::RY, {0}, {input(0)}, {}});
    ops.push_back({GateId::RX, {1}, {input(1)}, {}});
    ops.push_back({GateId::RY, {0}, {weight(0)}, {}});
    ops.push_back({GateId::RX, {1}, {weight(1, 0.5)}, {}});
    ops.push_back({GateId::CNOT, {0, 1}, {}, {}});
    ops.push_back({GateId::RZ, {0}, {weight(2)}, {}});
    ops.push_back({GateId::RY, {1}, {weight(3)}, {}});
    ops.push_back({GateId::CNOT, {1, 0}, {}, {}});
    ops.push_back({GateId::RX, {0}, {weight(4)}, {}});
    return Circuit(2, std::move(ops), 5, 2);
}

std::vector<Observable> observables() {
    Observable z0, z1, xy;
    z0.terms.push_back({1.0, {0}, "Z"});
    z1.terms.push_back({1.0, {1}, "Z"});
    xy.terms.push_back({0.5, {0, 1}, "XY"});
    return {z0, z1, xy};
}

// Dense(3, 2) after the quantum layer: parameters [w (5), W (6), b (2)].
Head head() { return Head({HeadLayer{HeadOp::Dense, 3, 2, 5, 11}}, HeadLoss::CrossEntropy, 3); }

struct Data {
    int64_t rows = 7;
    std::vector<double> x, p;
    std::vector<int64_t> y;
    Data() {
        std::mt19937_64 rng(3);
        std::uniform_real_distribution<double> u(-1.5, 1.5);
        for (int64_t i = 0; i < 2 * rows; ++i) x.push_back(u(rng));
        for (int i = 0; i < 13; ++i) p.push_back(u(rng));
        for (int64_t i = 0; i < rows; ++i) y.push_back(i % 2);
    }
};

}  // namespace

TEST_CASE("the fused step's gradients match finite differences of its loss", "[training]") {
    const Data d;
    sv::Simulator sim(circuit(), observables(), sv::Precision::Double);
    HybridStep step(sim, head(), 0, 13, StepRule::Sgd);
    const double zero[kStepScalars] = {0.0};
    auto p = d.p;
    std::vector<double> g(13, 0.0);
    step.run(d.x.data(), d.rows, d.y.data(), nullptr, p.data(), g.data(), nullptr, zero);
    CHECK(p == d.p);  // a zero step moves nothing
    for (int k = 0; k < 13; ++k) {
        const double h = 1e-6;
        auto pp = d.p, pm = d.p;
        pp[k] += h;
        pm[k] -= h;
        std::vector<double> scratch(13);
        const double lp = step.run(d.x.data(), d.rows, d.y.data(), nullptr, pp.data(), scratch.data(), nullptr, zero);
        const double lm = step.run(d.x.data(), d.rows, d.y.data(), nullptr, pm.data(), scratch.data(), nullptr, zero);
        CHECK(std::abs(g[size_t(k)] - (lp - lm) / (2 * h)) < 1e-8);
    }
}

TEST_CASE("the fused step is its pieces bit for bit, on and off the shared suffix", "[training]") {
    const Data d;
    const bool was = sv::shared_suffix_enabled();
    for (int path = 0; path < 3; ++path) {
        sv::set_shared_suffix_enabled(path != 2, path == 1);
        sv::Simulator sim(circuit(), observables(), sv::Precision::Double);
        for (StepRule rule : {StepRule::Sgd, StepRule::Momentum, StepRule::Nesterov, StepRule::Scaled, StepRule::Adam}) {
            HybridStep step(sim, head(), 0, 13, rule);
            Head pieces_head = head();
            auto p = d.p, q = d.p;
            std::vector<double> g(13), gq(13), s0(13, 0.01), s1(13, 0.02), t0 = s0, t1 = s1;
            double* state[2] = {s0.data(), s1.data()};
            const double sc[kStepScalars] = {0.9, 0.1, 0.99, 0.01, 0.05, 1e-8};
            for (int it = 0; it < 3; ++it) {
                const double loss = step.run(d.x.data(), d.rows, d.y.data(), nullptr, p.data(), g.data(), state, sc);
                // The same step from the engine's calls one by one.
                std::vector<double> saved_q = q, tmp(13);
                if (rule == StepRule::Nesterov)
                    for (int i = 0; i < 13; ++i) {
                        tmp[size_t(i)] = t0[size_t(i)] * sc[0];
                        q[size_t(i)] = q[size_t(i)] - tmp[size_t(i)];
                    }
                sv::Batch b;
                b.weights = q.data();
                b.inputs = d.x.data();
                b.rows = d.rows;
                sv::SavedForward kept;
                std::vector<double> vals(size_t(d.rows) * 3), dq(vals.size()), v2(vals.size()), dw(5);
                sim.forward(b, vals.data(), kept);
                const double ref = pieces_head.run(vals.data(), d.rows, d.y.data(), nullptr, q.data(), gq.data(),
                                                   dq.data());
                sim.vjp(b, dq.data(), v2.data(), dw.data(), nullptr, &kept);
                std::copy(dw.begin(), dw.end(), gq.begin());
                if (rule == StepRule::Nesterov) q = saved_q;
                switch (rule) {
                case StepRule::Sgd: sgd_step(q.data(), gq.data(), 13, sc[0]); break;
                case StepRule::Momentum:
                case StepRule::Nesterov: momentum_step(q.data(), gq.data(), t0.data(), 13, sc[0], sc[1]); break;
                case StepRule::Scaled: scaled_step(q.data(), gq.data(), t0.data(), 13, sc[0], sc[1], sc[2], sc[3]); break;
                case StepRule::Adam:
                    adam_step(q.data(), gq.data(), t0.data(), t1.data(), 13, sc[0], sc[1], sc[2], sc[3], sc[4], sc[5]);
                    break;
                }
                CHECK(loss == ref);
                CHECK(p == q);
                CHECK(g == gq);
                CHECK(s0 == t0);
                CHECK(s1 == t1);
            }
        }
    }
    sv::set_shared_suffix_enabled(was);
}

TEST_CASE("the fused step refuses a head or offsets that do not fit", "[training]") {
    sv::Simulator sim(circuit(), observables(), sv::Precision::Double);
    CHECK_THROWS_AS(HybridStep(sim, head(), 9, 13, StepRule::Sgd), InvalidInput);  // weights past the end
    CHECK_THROWS_AS(HybridStep(sim, head(), 0, 12, StepRule::Sgd), InvalidInput);  // the bias past the end
    CHECK_THROWS_AS(HybridStep(sim, Head({HeadLayer{HeadOp::Dense, 2, 2, 5, 9}}, HeadLoss::CrossEntropy, 2), 0, 13,
                               StepRule::Sgd),
                    InvalidInput);  // a head of 2 columns after 3 observables
    CHECK(rule_states(StepRule::Adam) == 2);
    CHECK(rule_states(StepRule::Sgd) == 0);
    CHECK(rule_states(StepRule::Scaled) == 1);
}
