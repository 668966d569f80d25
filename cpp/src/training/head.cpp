// A hybrid model's classical head, forward, loss and backward in one pass (see head.hpp).
#include "pyqml/training/head.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "pyqml/common/errors.hpp"

// Each expression rounds as numpy's separate operations do: no contraction but the explicit fused
// multiply-adds of the matmuls.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

// The pass is compiled twice, with and without the FMA instruction, and chosen at run time by the CPU's
// features; without it __builtin_fma is libm's correctly rounded fma, so both give the same bits.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PYQML_NATIVE_BUILD)
#define PYQML_HEAD_DISPATCH 1
#endif

namespace pyqml::training {

double pairwise_sum(const double* a, int64_t n, int64_t stride) {
    if (n < 8) {
        double res = 0.0;
        for (int64_t i = 0; i < n; ++i) res += a[i * stride];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; ++j) r[j] = a[j * stride];
        int64_t i = 8;
        for (; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; ++j) r[j] += a[(i + j) * stride];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) res += a[i * stride];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2, stride) + pairwise_sum(a + n2 * stride, n - n2, stride);
}

namespace {

struct Pass {
    const HeadLayer* layers;
    int64_t n_layers;
    HeadLoss loss;
    int64_t n_in, n_out;
    double* acts;    // layer l's output at acts + rows * (sum of the earlier layers' widths)
    double* d0;      // cotangent buffers, rows x (widest layer)
    double* d1;
    double* rowbuf;  // the loss's terms
};

#define PYQML_HEAD_INLINE inline __attribute__((always_inline))

// The layers are a few columns wide: the output width is a template parameter up to 8 (kept in registers,
// loops unrolled; 0 is any width), the inner index a loop.
constexpr int kMaxUnrolled = 8;

// y = x @ W + b: per element a multiply-add chain over k from 0.0 (BLAS's order), the bias added after.
template <int NC>
PYQML_HEAD_INLINE void dense_forward(const double* __restrict x, const double* __restrict W,
                                     const double* __restrict b, int64_t rows, int64_t K, int64_t n,
                                     double* __restrict y) {
    if constexpr (NC > 0) {
        for (int64_t i = 0; i < rows; ++i) {
            const double* xi = x + i * K;
            double acc[NC];
            for (int j = 0; j < NC; ++j) acc[j] = 0.0;
            for (int64_t k = 0; k < K; ++k) {
                const double xk = xi[k];
                const double* Wk = W + k * NC;
                for (int j = 0; j < NC; ++j) acc[j] = __builtin_fma(xk, Wk[j], acc[j]);
            }
            double* yi = y + i * NC;
            for (int j = 0; j < NC; ++j) yi[j] = acc[j] + b[j];
        }
    } else {
        const int64_t N = n;
        for (int64_t i = 0; i < rows; ++i) {
            const double* xi = x + i * K;
            double* yi = y + i * N;
            for (int64_t j = 0; j < N; ++j) yi[j] = 0.0;
            for (int64_t k = 0; k < K; ++k) {
                const double xk = xi[k];
                const double* Wk = W + k * N;
                for (int64_t j = 0; j < N; ++j) yi[j] = __builtin_fma(xk, Wk[j], yi[j]);
            }
            for (int64_t j = 0; j < N; ++j) yi[j] = yi[j] + b[j];
        }
    }
}

// gW = x.T @ d (a chain over the rows in order per element), gb = column sums of d, dx = d @ W.T (chains
// over j).
template <int NC>
PYQML_HEAD_INLINE void dense_backward(const double* __restrict x, const double* __restrict W,
                                      const double* __restrict d, int64_t rows, int64_t K, int64_t n,
                                      double* __restrict gW, double* __restrict gb, double* __restrict dx) {
    const int64_t N = NC > 0 ? NC : n;
    if constexpr (NC > 0) {
        int64_t k = 0;
        for (; k + 2 <= K; k += 2) {  // two rows of gW at a time: 2 NC independent chains
            double a0[NC], a1[NC];
            for (int j = 0; j < NC; ++j) a0[j] = a1[j] = 0.0;
            for (int64_t i = 0; i < rows; ++i) {
                const double x0 = x[i * K + k], x1 = x[i * K + k + 1];
                const double* di = d + i * NC;
                for (int j = 0; j < NC; ++j) {
                    a0[j] = __builtin_fma(x0, di[j], a0[j]);
                    a1[j] = __builtin_fma(x1, di[j], a1[j]);
                }
            }
            for (int j = 0; j < NC; ++j) {
                gW[k * NC + j] = a0[j];
                gW[(k + 1) * NC + j] = a1[j];
            }
        }
        if (k < K) {
            double a0[NC];
            for (int j = 0; j < NC; ++j) a0[j] = 0.0;
            for (int64_t i = 0; i < rows; ++i) {
                const double x0 = x[i * K + k];
                const double* di = d + i * NC;
                for (int j = 0; j < NC; ++j) a0[j] = __builtin_fma(x0, di[j], a0[j]);
            }
            for (int j = 0; j < NC; ++j) gW[k * NC + j] = a0[j];
        }
    } else {
        for (int64_t e = 0; e < K * N; ++e) gW[e] = 0.0;
        for (int64_t i = 0; i < rows; ++i) {
            const double* xi = x + i * K;
            const double* di = d + i * N;
            for (int64_t k = 0; k < K; ++k) {
                const double xk = xi[k];
                double* gk = gW + k * N;
                for (int64_t j = 0; j < N; ++j) gk[j] = __builtin_fma(xk, di[j], gk[j]);
            }
        }
    }
    if (N == 1) {
        gb[0] = pairwise_sum(d, rows, 1);  // numpy reduces one column pairwise
    } else if (rows == 0) {
        for (int64_t j = 0; j < N; ++j) gb[j] = 0.0;
    } else {
        for (int64_t j = 0; j < N; ++j) gb[j] = d[j];
        for (int64_t i = 1; i < rows; ++i) {
            const double* di = d + i * N;
            for (int64_t j = 0; j < N; ++j) gb[j] = gb[j] + di[j];
        }
    }
    if (dx == nullptr) return;
    for (int64_t i = 0; i < rows; ++i) {
        const double* di = d + i * N;
        double* dxi = dx + i * K;
        for (int64_t k = 0; k < K; ++k) {
            const double* Wk = W + k * N;
            double acc = 0.0;
            for (int64_t j = 0; j < N; ++j) acc = __builtin_fma(di[j], Wk[j], acc);
            dxi[k] = acc;
        }
    }
}

template <int NC = 1>
PYQML_HEAD_INLINE void dense_forward_any(const double* x, const double* W, const double* b, int64_t rows, int64_t K,
                                         int64_t N, double* y) {
    if constexpr (NC <= kMaxUnrolled) {
        if (N == NC) return dense_forward<NC>(x, W, b, rows, K, N, y);
        return dense_forward_any<NC + 1>(x, W, b, rows, K, N, y);
    } else {
        dense_forward<0>(x, W, b, rows, K, N, y);
    }
}

template <int NC = 1>
PYQML_HEAD_INLINE void dense_backward_any(const double* x, const double* W, const double* d, int64_t rows, int64_t K,
                                          int64_t N, double* gW, double* gb, double* dx) {
    if constexpr (NC <= kMaxUnrolled) {
        if (N == NC) return dense_backward<NC>(x, W, d, rows, K, N, gW, gb, dx);
        return dense_backward_any<NC + 1>(x, W, d, rows, K, N, gW, gb, dx);
    } else {
        dense_backward<0>(x, W, d, rows, K, N, gW, gb, dx);
    }
}

// numpy's element-wise activations and their derivatives (models.Activation).
PYQML_HEAD_INLINE void activation_forward(HeadOp op, const double* x, int64_t n, double* y) {
    switch (op) {
    case HeadOp::Relu:  // np.maximum(x, 0.0): a NaN stays
        for (int64_t e = 0; e < n; ++e) y[e] = (x[e] >= 0.0 || std::isnan(x[e])) ? x[e] : 0.0;
        break;
    case HeadOp::Tanh:
        for (int64_t e = 0; e < n; ++e) y[e] = std::tanh(x[e]);
        break;
    case HeadOp::Sigmoid:  // 1.0 / (1.0 + exp(-x))
        for (int64_t e = 0; e < n; ++e) {
            const double s = 1.0 + std::exp(-x[e]);
            y[e] = 1.0 / s;
        }
        break;
    default:
        std::copy(x, x + n, y);
    }
}

PYQML_HEAD_INLINE void activation_backward(HeadOp op, const double* x, const double* y, const double* d, int64_t n,
                                           double* dx) {
    switch (op) {
    case HeadOp::Relu:  // dy * (x > 0)
        for (int64_t e = 0; e < n; ++e) dx[e] = d[e] * (x[e] > 0.0 ? 1.0 : 0.0);
        break;
    case HeadOp::Tanh:  // dy * (1.0 - y * y)
        for (int64_t e = 0; e < n; ++e) {
            const double yy = y[e] * y[e];
            const double s = 1.0 - yy;
            dx[e] = d[e] * s;
        }
        break;
    case HeadOp::Sigmoid:  // dy * y * (1.0 - y)
        for (int64_t e = 0; e < n; ++e) {
            const double dy = d[e] * y[e];
            const double s = 1.0 - y[e];
            dx[e] = dy * s;
        }
        break;
    default:
        std::copy(d, d + n, dx);
    }
}

// CrossEntropyLoss: p = softmax(z) shifted by the row maximum, loss = -(sum_i log(max(p[i, y_i], 1e-300))) / rows,
// grad = (p - onehot) / rows, written into g. exp(0) is 1 exactly: the row maximum's entry skips the call.
template <int CC>  // CC > 0: the class count at compile time (below 8: numpy sums the row in order)
PYQML_HEAD_INLINE double cross_entropy(const double* __restrict z, const int64_t* __restrict labels, int64_t rows,
                                       int64_t c, double* __restrict g, double* __restrict logp) {
    const int64_t C = CC > 0 ? CC : c;
    const double n_rows = static_cast<double>(rows);
    for (int64_t i = 0; i < rows; ++i) {
        const double* zi = z + i * C;
        double* p = g + i * C;
        double m = zi[0];  // numpy's maximum: a NaN wins
        for (int64_t j = 1; j < C; ++j)
            if (!std::isnan(m) && !(m >= zi[j])) m = zi[j];
        for (int64_t j = 0; j < C; ++j) {
            const double t = zi[j] - m;
            p[j] = t == 0.0 ? 1.0 : std::exp(t);
        }
        double s;
        if constexpr (CC > 0 && CC < 8) {
            s = 0.0;
            for (int j = 0; j < CC; ++j) s += p[j];
        } else {
            s = pairwise_sum(p, C, 1);
        }
        for (int64_t j = 0; j < C; ++j) p[j] = p[j] / s;
        int64_t y = labels[i];
        if (y < 0) y += C;
        logp[i] = std::log(std::max(p[y], 1e-300));
        p[y] = p[y] - 1.0;
    }
    for (int64_t e = 0; e < rows * C; ++e) g[e] = g[e] / n_rows;
    const double s = pairwise_sum(logp, rows, 1);
    return -(s / n_rows);
}

template <int CC = 1>
PYQML_HEAD_INLINE double cross_entropy_any(const double* z, const int64_t* labels, int64_t rows, int64_t C, double* g,
                                           double* logp) {
    if constexpr (CC < 8) {
        if (C == CC) return cross_entropy<CC>(z, labels, rows, C, g, logp);
        return cross_entropy_any<CC + 1>(z, labels, rows, C, g, logp);
    } else {
        return cross_entropy<0>(z, labels, rows, C, g, logp);
    }
}

// MSELoss: diff = pred - t, loss = (sum of diff * diff) / size, grad = (2.0 * diff) / size.
PYQML_HEAD_INLINE double mean_squared(const double* pred, const double* t, int64_t size, double* g, double* sq) {
    for (int64_t e = 0; e < size; ++e) {
        const double diff = pred[e] - t[e];
        sq[e] = diff * diff;
        g[e] = diff;
    }
    const double n = static_cast<double>(size);
    const double loss = pairwise_sum(sq, size, 1) / n;
    for (int64_t e = 0; e < size; ++e) {
        const double two = 2.0 * g[e];
        g[e] = two / n;
    }
    return loss;
}

PYQML_HEAD_INLINE double pass_body(const Pass& P, const double* x, int64_t rows, const int64_t* labels,
                                   const double* targets, const double* params, double* grads, double* dx) {
    // forward
    const double* in = x;
    double* out = P.acts;
    for (int64_t l = 0; l < P.n_layers; ++l) {
        const HeadLayer& L = P.layers[l];
        if (L.op == HeadOp::Dense)
            dense_forward_any(in, params + L.w_offset, params + L.b_offset, rows, L.n_in, L.n_out, out);
        else
            activation_forward(L.op, in, rows * L.n_out, out);
        in = out;
        out += rows * L.n_out;
    }
    // loss and its gradient into d0
    double* d = P.d0;
    const double value = P.loss == HeadLoss::CrossEntropy ? cross_entropy_any(in, labels, rows, P.n_out, d, P.rowbuf)
                                                          : mean_squared(in, targets, rows * P.n_out, d, P.rowbuf);
    // backward
    int64_t off = 0;
    for (int64_t l = 0; l < P.n_layers; ++l) off += rows * P.layers[l].n_out;
    for (int64_t l = P.n_layers - 1; l >= 0; --l) {
        const HeadLayer& L = P.layers[l];
        off -= rows * L.n_out;
        const double* y = P.acts + off;
        const double* xin = l == 0 ? x : P.acts + (off - rows * L.n_in);
        double* next = l == 0 ? dx : (d == P.d0 ? P.d1 : P.d0);
        if (L.op == HeadOp::Dense)
            dense_backward_any(xin, params + L.w_offset, d, rows, L.n_in, L.n_out, grads + L.w_offset,
                               grads + L.b_offset, next);
        else if (next != nullptr)
            activation_backward(L.op, xin, y, d, rows * L.n_out, next);
        d = next;
    }
    if (P.n_layers == 0 && dx != nullptr) std::copy(P.d0, P.d0 + rows * P.n_out, dx);
    return value;
}

double pass_base(const Pass& P, const double* x, int64_t rows, const int64_t* labels, const double* targets,
                 const double* params, double* grads, double* dx) {
    return pass_body(P, x, rows, labels, targets, params, grads, dx);
}

#ifdef PYQML_HEAD_DISPATCH
__attribute__((target("fma"))) double pass_fma(const Pass& P, const double* x, int64_t rows, const int64_t* labels,
                                               const double* targets, const double* params, double* grads,
                                               double* dx) {
    return pass_body(P, x, rows, labels, targets, params, grads, dx);
}
#endif

}  // namespace

Head::Head(std::vector<HeadLayer> layers, HeadLoss loss, int64_t n_in)
    : layers_(std::move(layers)), loss_(loss), n_in_(n_in), n_out_(n_in) {
    if (n_in < 1) throw InvalidInput("the head's input needs at least one column, got " + std::to_string(n_in));
    width_max_ = n_in;
    for (size_t l = 0; l < layers_.size(); ++l) {
        const HeadLayer& L = layers_[l];
        const std::string where = "head layer " + std::to_string(l);
        if (L.n_in != n_out_)
            throw InvalidInput((L.op == HeadOp::Dense ? std::string("Dense layer") : where) + " expects " +
                               std::to_string(L.n_in) + " features, got " + std::to_string(n_out_));
        if (L.n_out < 1) throw InvalidInput(where + " has no output columns");
        if (L.op != HeadOp::Dense && L.n_out != L.n_in)
            throw InvalidInput(where + ": an activation keeps its width");
        if (L.op == HeadOp::Dense && (L.w_offset < 0 || L.b_offset < 0))
            throw InvalidInput(where + ": negative parameter offset");
        n_out_ = L.n_out;
        width_sum_ += L.n_out;
        width_max_ = std::max(width_max_, L.n_out);
    }
}

int64_t Head::bad_label(const int64_t* labels, int64_t rows) const {
    for (int64_t i = 0; i < rows; ++i) {
        int64_t y = labels[i];
        if (y < 0) y += n_out_;
        if (y < 0 || y >= n_out_) return i;
    }
    return -1;
}

double Head::run(const double* x, int64_t rows, const int64_t* labels, const double* targets, const double* params,
                 double* grads, double* dx) {
    const size_t r = static_cast<size_t>(rows);
    acts_.resize(r * static_cast<size_t>(width_sum_));
    delta_.resize(2 * r * static_cast<size_t>(width_max_));
    rowbuf_.resize(loss_ == HeadLoss::CrossEntropy ? r : r * static_cast<size_t>(n_out_));
    const Pass P{layers_.data(), static_cast<int64_t>(layers_.size()), loss_, n_in_, n_out_, acts_.data(),
                 delta_.data(), delta_.data() + r * static_cast<size_t>(width_max_), rowbuf_.data()};
#ifdef PYQML_HEAD_DISPATCH
    static const bool has_fma = __builtin_cpu_supports("fma");
    if (has_fma) return pass_fma(P, x, rows, labels, targets, params, grads, dx);
#endif
    return pass_base(P, x, rows, labels, targets, params, grads, dx);
}

}  // namespace pyqml::training
