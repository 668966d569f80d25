#pragma once
// The classical side of a hybrid model's training step on flat float64 vectors: the gradient optimisers'
// in-place updates and the softmax cross-entropy with its gradient, each one pass over the data.
//
// Every update is written as pyqml/qml/optimizers.py writes it with numpy, operation for operation and
// rounded after each (the file is compiled without floating-point contraction), so both give the same bits.
#include <cstdint>

namespace pyqml::training {

// x <- x - stepsize * g
void sgd_step(double* x, const double* g, int64_t n, double stepsize);

// a <- momentum * a + stepsize * g;  x <- x - a
void momentum_step(double* x, const double* g, double* a, int64_t n, double momentum, double stepsize);

// a <- decay * a + ((1 - decay) * g) * g  (Adagrad: decay < 0 means a <- a + g * g);
// x <- x - (stepsize / sqrt(a + eps)) * g.   one_minus_decay is passed as the caller computed it.
void scaled_step(double* x, const double* g, double* a, int64_t n, double decay, double one_minus_decay,
                 double stepsize, double eps);

// fm <- beta1 * fm + (1 - beta1) * g;  sm <- beta2 * sm + ((1 - beta2) * g) * g;
// x <- x - (step * fm) / (sqrt(sm) + eps)   (step: the stepsize with Adam's bias corrections folded in)
void adam_step(double* x, const double* g, double* fm, double* sm, int64_t n, double beta1, double one_minus_beta1,
               double beta2, double one_minus_beta2, double step, double eps);

// y[i, j] <- y[i, j] + b[j] for every row i of y (rows, cols): a dense layer's bias.
void add_bias(double* y, const double* b, int64_t rows, int64_t cols);

// out[j] <- d[0, j] + d[1, j] + ... + d[rows - 1, j], summed in row order (numpy's order for 2 columns or more):
// a dense layer's bias gradient.
void column_sums(const double* d, int64_t rows, int64_t cols, double* out);

// Row-wise softmax of logits (rows, classes) shifted by the row maximum, as numpy: e = exp(z - max),
// p = e / (e_0 + e_1 + ...) summed in class order (numpy's order below 8 classes). Writes
// logp[i] = log(max(p[i, label_i], 1e-300)) and grad = (p - onehot(labels)) / rows. A label outside
// [-classes, classes) makes it return the index of its row (negative labels count from the last class, as
// numpy indexing does); -1 when every label is valid.
int64_t softmax_cross_entropy(const double* logits, const int64_t* labels, int64_t rows, int64_t classes,
                              double* logp, double* grad);

}  // namespace pyqml::training
