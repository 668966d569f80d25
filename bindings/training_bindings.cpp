// pyqml._core's training-step kernels (cpp/include/pyqml/training/steps.hpp) on numpy vectors, updated in
// place: the arrays must be float64, C-contiguous and (where written) writeable, never copied.
#include <string>

#include "convert.hpp"
#include "pyqml/training/steps.hpp"

namespace pyqml::bind {

namespace {

int64_t f64_size(const py::array& a, const char* what) {
    if (a.dtype().num() != py::detail::npy_api::NPY_DOUBLE_ || !(a.flags() & py::array::c_style))
        throw InvalidInput(std::string(what) + " must be a C-contiguous float64 array");
    return static_cast<int64_t>(a.size());
}

double* out_f64(py::array& a, const char* what, int64_t n) {
    if (f64_size(a, what) != n)
        throw InvalidInput(std::string(what) + " has " + std::to_string(a.size()) + " entries, expected " +
                           std::to_string(n));
    if (!a.writeable()) throw InvalidInput(std::string(what) + " is read-only");
    return static_cast<double*>(a.mutable_data());
}

const double* in_f64(const py::array& a, const char* what, int64_t n) {
    if (f64_size(a, what) != n)
        throw InvalidInput(std::string(what) + " has " + std::to_string(a.size()) + " entries, expected " +
                           std::to_string(n));
    return static_cast<const double*>(a.data());
}

}  // namespace

void init_training(py::module_& m) {
    m.def("sgd_step", [](py::array x, const py::array& g, double stepsize) {
        const int64_t n = f64_size(x, "x");
        training::sgd_step(out_f64(x, "x", n), in_f64(g, "grad", n), n, stepsize);
    }, py::arg("x"), py::arg("grad"), py::arg("stepsize"), "x <- x - stepsize * grad, in place.");
    m.def("momentum_step", [](py::array x, const py::array& g, py::array a, double momentum, double stepsize) {
        const int64_t n = f64_size(x, "x");
        training::momentum_step(out_f64(x, "x", n), in_f64(g, "grad", n), out_f64(a, "accumulation", n), n, momentum,
                                stepsize);
    }, py::arg("x"), py::arg("grad"), py::arg("accumulation"), py::arg("momentum"), py::arg("stepsize"),
       "a <- momentum * a + stepsize * grad; x <- x - a, in place.");
    m.def("scaled_step", [](py::array x, const py::array& g, py::array a, double decay, double one_minus_decay,
                            double stepsize, double eps) {
        const int64_t n = f64_size(x, "x");
        training::scaled_step(out_f64(x, "x", n), in_f64(g, "grad", n), out_f64(a, "accumulation", n), n, decay,
                              one_minus_decay, stepsize, eps);
    }, py::arg("x"), py::arg("grad"), py::arg("accumulation"), py::arg("decay"), py::arg("one_minus_decay"),
       py::arg("stepsize"), py::arg("eps"),
       "RMSProp (Adagrad for decay < 0: a <- a + grad^2): a <- decay a + ((1 - decay) grad) grad; "
       "x <- x - stepsize / sqrt(a + eps) * grad, in place.");
    m.def("adam_step", [](py::array x, const py::array& g, py::array fm, py::array sm, double beta1,
                          double one_minus_beta1, double beta2, double one_minus_beta2, double step, double eps) {
        const int64_t n = f64_size(x, "x");
        training::adam_step(out_f64(x, "x", n), in_f64(g, "grad", n), out_f64(fm, "fm", n), out_f64(sm, "sm", n), n,
                            beta1, one_minus_beta1, beta2, one_minus_beta2, step, eps);
    }, py::arg("x"), py::arg("grad"), py::arg("fm"), py::arg("sm"), py::arg("beta1"), py::arg("one_minus_beta1"),
       py::arg("beta2"), py::arg("one_minus_beta2"), py::arg("step"), py::arg("eps"),
       "fm <- beta1 fm + (1 - beta1) grad; sm <- beta2 sm + ((1 - beta2) grad) grad; "
       "x <- x - step fm / (sqrt(sm) + eps), in place.");
    m.def("add_bias", [](py::array y, const py::array& b) {
        if (y.ndim() != 2) throw InvalidInput("y must be (rows, cols)");
        const int64_t rows = y.shape(0), cols = y.shape(1);
        training::add_bias(out_f64(y, "y", rows * cols), in_f64(b, "b", cols), rows, cols);
    }, py::arg("y"), py::arg("b"), "y[i, :] += b for every row, in place.");
    m.def("column_sums", [](const py::array& d, py::array out) {
        if (d.ndim() != 2) throw InvalidInput("d must be (rows, cols)");
        const int64_t rows = d.shape(0), cols = d.shape(1);
        training::column_sums(in_f64(d, "d", rows * cols), rows, cols, out_f64(out, "out", cols));
    }, py::arg("d"), py::arg("out"), "out[j] = sum over rows of d[:, j], in row order.");
    m.def("softmax_cross_entropy", [](const py::array& logits, const py::array& labels, py::array logp,
                                      py::array grad) {
        if (logits.ndim() != 2) throw InvalidInput("logits must be (rows, classes)");
        const int64_t rows = logits.shape(0), classes = logits.shape(1);
        if (labels.dtype().num() != py::detail::npy_api::NPY_LONGLONG_ &&
            labels.dtype().num() != py::detail::npy_api::NPY_LONG_)
            throw InvalidInput("labels must be an int64 array");
        if (labels.itemsize() != 8 || labels.ndim() != 1 || labels.shape(0) != rows ||
            !(labels.flags() & py::array::c_style))
            throw InvalidInput("labels must be one contiguous int64 label per row (" + std::to_string(rows) + ")");
        const int64_t bad = training::softmax_cross_entropy(
            in_f64(logits, "logits", rows * classes), static_cast<const int64_t*>(labels.data()), rows, classes,
            out_f64(logp, "logp", rows), out_f64(grad, "grad", rows * classes));
        if (bad >= 0)
            throw InvalidInput("labels must lie in [0, " + std::to_string(classes) + ") for " +
                               std::to_string(classes) + " classes; row " + std::to_string(bad) + " has label " +
                               std::to_string(static_cast<const int64_t*>(labels.data())[bad]));
    }, py::arg("logits"), py::arg("labels"), py::arg("logp"), py::arg("grad"),
       "Row-wise softmax cross-entropy: logp[i] = log(max(p[i, label_i], 1e-300)), grad = (p - onehot) / rows.");
}

}  // namespace pyqml::bind
