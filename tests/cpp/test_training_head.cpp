// The training head (cpp/src/training/head.cpp): its loss and gradients against central finite differences
// of the loss written out here, its input cotangent likewise, and bad layer chains.
#include <cmath>
#include <random>
#include <vector>

#include "catch_compat.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/training/head.hpp"

using namespace pyqml;
using namespace pyqml::training;

namespace {

// Dense(3, 4) -> tanh -> Dense(4, 3) on the flat parameter vector [W1 (12), b1 (4), W2 (12), b2 (3)].
std::vector<HeadLayer> layers() {
    HeadLayer d1{HeadOp::Dense, 3, 4, 0, 12}, act{HeadOp::Tanh, 4, 4, 0, 0}, d2{HeadOp::Dense, 4, 3, 16, 28};
    return {d1, act, d2};
}

// The same network and loss, by hand (plain loops, libm), for finite differences.
double reference_loss(const std::vector<double>& x, int64_t rows, const std::vector<double>& p,
                      const std::vector<int64_t>& labels, const std::vector<double>& targets, bool ce) {
    double total = 0.0;
    for (int64_t i = 0; i < rows; ++i) {
        double h[4], z[3];
        for (int j = 0; j < 4; ++j) {
            double s = p[12 + j];
            for (int k = 0; k < 3; ++k) s += x[i * 3 + k] * p[k * 4 + j];
            h[j] = std::tanh(s);
        }
        for (int j = 0; j < 3; ++j) {
            double s = p[28 + j];
            for (int k = 0; k < 4; ++k) s += h[k] * p[16 + k * 3 + j];
            z[j] = s;
        }
        if (ce) {
            const double m = std::max(z[0], std::max(z[1], z[2]));
            const double lse = m + std::log(std::exp(z[0] - m) + std::exp(z[1] - m) + std::exp(z[2] - m));
            total += lse - z[labels[i]];
        } else {
            for (int j = 0; j < 3; ++j) total += (z[j] - targets[i * 3 + j]) * (z[j] - targets[i * 3 + j]);
        }
    }
    return ce ? total / rows : total / (3 * rows);
}

}  // namespace

TEST_CASE("the training head's loss and gradients match finite differences", "[training]") {
    std::mt19937_64 rng(3);
    std::normal_distribution<double> nd;
    const int64_t rows = 9;
    std::vector<double> x(rows * 3), p(31), t(rows * 3);
    for (auto& v : x) v = nd(rng);
    for (auto& v : p) v = 0.7 * nd(rng);
    for (auto& v : t) v = nd(rng);
    std::vector<int64_t> labels(rows);
    for (int64_t i = 0; i < rows; ++i) labels[i] = i % 3;
    for (const bool ce : {true, false}) {
        Head head(layers(), ce ? HeadLoss::CrossEntropy : HeadLoss::MeanSquared, 3);
        REQUIRE(head.bad_label(labels.data(), rows) == -1);
        std::vector<double> g(31, -1.0), dx(rows * 3);
        const double loss = head.run(x.data(), rows, labels.data(), t.data(), p.data(), g.data(), dx.data());
        CHECK(std::abs(loss - reference_loss(x, rows, p, labels, t, ce)) < 1e-12);
        const double h = 1e-6;
        for (size_t k = 0; k < p.size(); ++k) {
            std::vector<double> pp = p, pm = p;
            pp[k] += h;
            pm[k] -= h;
            const double fd = (reference_loss(x, rows, pp, labels, t, ce) - reference_loss(x, rows, pm, labels, t, ce)) /
                              (2 * h);
            CHECK(std::abs(g[k] - fd) < 1e-8);
        }
        for (size_t k = 0; k < x.size(); ++k) {
            std::vector<double> xp = x, xm = x;
            xp[k] += h;
            xm[k] -= h;
            const double fd = (reference_loss(xp, rows, p, labels, t, ce) - reference_loss(xm, rows, p, labels, t, ce)) /
                              (2 * h);
            CHECK(std::abs(dx[k] - fd) < 1e-8);
        }
        // the same call again (buffers reused) gives the same bits; without dx the gradients are unchanged
        std::vector<double> g2(31);
        CHECK(head.run(x.data(), rows, labels.data(), t.data(), p.data(), g2.data(), nullptr) == loss);
        CHECK(g2 == g);
    }
}

TEST_CASE("numpy's pairwise sum and the head's bad input", "[training]") {
    std::vector<double> a(300);
    for (size_t i = 0; i < a.size(); ++i) a[i] = 1.0 / double(i + 1);
    // exact for sums of integers; the block structure for the rest
    std::vector<double> ones(300, 1.0);
    CHECK(pairwise_sum(ones.data(), 300) == 300.0);
    CHECK(pairwise_sum(a.data(), 0) == 0.0);
    CHECK(pairwise_sum(a.data(), 5) == ((((0.0 + a[0]) + a[1]) + a[2]) + a[3]) + a[4]);
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j] + a[8 + j];
    const double want = (((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))) + a[16];
    CHECK(pairwise_sum(a.data(), 17) == want);
    CHECK(pairwise_sum(a.data(), 300) == pairwise_sum(a.data(), 144) + pairwise_sum(a.data() + 144, 156));

    HeadLayer d{HeadOp::Dense, 4, 3, 0, 12};
    CHECK_THROWS_AS(Head({d}, HeadLoss::MeanSquared, 5), InvalidInput);
    HeadLayer act{HeadOp::Relu, 3, 2, 0, 0};
    CHECK_THROWS_AS(Head({d, act}, HeadLoss::MeanSquared, 4), InvalidInput);
    Head ok({d}, HeadLoss::CrossEntropy, 4);
    const std::vector<int64_t> labels{0, -3, 2, 3};
    CHECK(ok.bad_label(labels.data(), 4) == 3);
}
