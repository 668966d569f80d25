// Optimiser updates and the softmax cross-entropy of the hybrid models' training step (see steps.hpp).
#include "pyqml/training/steps.hpp"

#include <algorithm>
#include <cmath>

// Each expression must round as numpy's separate operations do: no fused multiply-add.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace pyqml::training {

void sgd_step(double* x, const double* g, int64_t n, double stepsize) {
    for (int64_t i = 0; i < n; ++i) {
        const double d = stepsize * g[i];
        x[i] = x[i] - d;
    }
}

void momentum_step(double* x, const double* g, double* a, int64_t n, double momentum, double stepsize) {
    for (int64_t i = 0; i < n; ++i) {
        const double ma = momentum * a[i];
        const double sg = stepsize * g[i];
        a[i] = ma + sg;
        x[i] = x[i] - a[i];
    }
}

void scaled_step(double* x, const double* g, double* a, int64_t n, double decay, double one_minus_decay,
                 double stepsize, double eps) {
    for (int64_t i = 0; i < n; ++i) {
        if (decay < 0.0) {
            const double gg = g[i] * g[i];
            a[i] = a[i] + gg;
        } else {
            const double cg = one_minus_decay * g[i];
            const double cgg = cg * g[i];
            const double da = decay * a[i];
            a[i] = da + cgg;
        }
        const double r = stepsize / std::sqrt(a[i] + eps);
        const double d = r * g[i];
        x[i] = x[i] - d;
    }
}

void adam_step(double* x, const double* g, double* fm, double* sm, int64_t n, double beta1, double one_minus_beta1,
               double beta2, double one_minus_beta2, double step, double eps) {
    for (int64_t i = 0; i < n; ++i) {
        const double bf = beta1 * fm[i];
        const double cg = one_minus_beta1 * g[i];
        fm[i] = bf + cg;
        const double bs = beta2 * sm[i];
        const double c2g = one_minus_beta2 * g[i];
        const double c2gg = c2g * g[i];
        sm[i] = bs + c2gg;
        const double num = step * fm[i];
        const double den = std::sqrt(sm[i]) + eps;
        const double d = num / den;
        x[i] = x[i] - d;
    }
}

void add_bias(double* y, const double* b, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; ++i) {
        double* row = y + i * cols;
        for (int64_t j = 0; j < cols; ++j) row[j] = row[j] + b[j];
    }
}

void column_sums(const double* d, int64_t rows, int64_t cols, double* out) {
    if (rows == 0) {
        std::fill(out, out + cols, 0.0);
        return;
    }
    std::copy(d, d + cols, out);
    for (int64_t i = 1; i < rows; ++i) {
        const double* row = d + i * cols;
        for (int64_t j = 0; j < cols; ++j) out[j] = out[j] + row[j];
    }
}

int64_t softmax_cross_entropy(const double* logits, const int64_t* labels, int64_t rows, int64_t classes,
                              double* logp, double* grad) {
    for (int64_t i = 0; i < rows; ++i) {
        int64_t y = labels[i];
        if (y < 0) y += classes;
        if (y < 0 || y >= classes) return i;
    }
    const double n_rows = static_cast<double>(rows);
    for (int64_t i = 0; i < rows; ++i) {
        const double* z = logits + i * classes;
        double* p = grad + i * classes;
        double m = z[0];  // numpy's maximum: a NaN wins
        for (int64_t j = 1; j < classes; ++j)
            if (!std::isnan(m) && !(m >= z[j])) m = z[j];
        double s = 0.0;
        for (int64_t j = 0; j < classes; ++j) {
            p[j] = std::exp(z[j] - m);
            s = j == 0 ? p[j] : s + p[j];
        }
        for (int64_t j = 0; j < classes; ++j) p[j] = p[j] / s;
        int64_t y = labels[i];
        if (y < 0) y += classes;
        logp[i] = std::log(std::max(p[y], 1e-300));
        p[y] = p[y] - 1.0;
        for (int64_t j = 0; j < classes; ++j) p[j] = p[j] / n_rows;
    }
    return -1;
}

}  // namespace pyqml::training
