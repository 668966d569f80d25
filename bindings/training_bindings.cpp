// pyqml._core's training-step kernels (cpp/include/pyqml/training/steps.hpp) on numpy vectors, updated in
// place: the arrays must be float64, C-contiguous and (where written) writeable, never copied.
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "convert.hpp"
#include "pyqml/training/head.hpp"
#include "pyqml/training/hybrid_step.hpp"
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

bool int64_rows(const py::array& labels, int64_t rows) {
    const int num = labels.dtype().num();
    return (num == py::detail::npy_api::NPY_LONGLONG_ || num == py::detail::npy_api::NPY_LONG_) &&
           labels.itemsize() == 8 && labels.ndim() == 1 && labels.shape(0) == rows &&
           (labels.flags() & py::array::c_style);
}

std::string bad_label_message(const py::array& labels, int64_t classes, int64_t row) {
    return "labels must lie in [0, " + std::to_string(classes) + ") for " + std::to_string(classes) +
           " classes; row " + std::to_string(row) + " has label " +
           std::to_string(static_cast<const int64_t*>(labels.data())[row]);
}

// The head's labels (cross-entropy: one valid int64 label per row) or targets (mean squared error: rows x
// n_out contiguous float64) from y; throws InvalidInput naming what is wrong.
void head_targets(const training::Head& head, const py::array& y, int64_t rows, const int64_t*& labels,
                  const double*& targets) {
    labels = nullptr;
    targets = nullptr;
    if (head.loss() == training::HeadLoss::CrossEntropy) {
        if (!int64_rows(y, rows))
            throw InvalidInput("labels must be one contiguous int64 label per row (" + std::to_string(rows) + ")");
        labels = static_cast<const int64_t*>(y.data());
        const int64_t bad = head.bad_label(labels, rows);
        if (bad >= 0) throw InvalidInput(bad_label_message(y, head.n_out(), bad));
    } else {
        const int64_t want = rows * head.n_out();
        if (y.dtype().num() != py::detail::npy_api::NPY_DOUBLE_ || !(y.flags() & py::array::c_style) ||
            static_cast<int64_t>(y.size()) != want)
            throw InvalidInput("the mean squared error needs " + std::to_string(want) +
                               " contiguous float64 targets (" + std::to_string(rows) + " rows x " +
                               std::to_string(head.n_out()) + " outputs), got " + std::to_string(y.size()));
        targets = static_cast<const double*>(y.data());
    }
}

using LayerTuple = std::tuple<std::string, int64_t, int64_t, int64_t, int64_t>;

std::vector<training::HeadLayer> head_layers(const std::vector<LayerTuple>& layers) {
    std::vector<training::HeadLayer> out;
    for (const auto& [kind, n_in, n_out, w_offset, b_offset] : layers) {
        training::HeadLayer L;
        if (kind == "dense") L.op = training::HeadOp::Dense;
        else if (kind == "relu") L.op = training::HeadOp::Relu;
        else if (kind == "tanh") L.op = training::HeadOp::Tanh;
        else if (kind == "sigmoid") L.op = training::HeadOp::Sigmoid;
        else if (kind == "identity") L.op = training::HeadOp::Identity;
        else throw InvalidInput("head layers are 'dense', 'relu', 'tanh', 'sigmoid' or 'identity', got '" + kind + "'");
        L.n_in = n_in;
        L.n_out = n_out;
        L.w_offset = w_offset;
        L.b_offset = b_offset;
        out.push_back(L);
    }
    return out;
}

training::HeadLoss head_loss(const std::string& loss) {
    if (loss == "cross_entropy") return training::HeadLoss::CrossEntropy;
    if (loss == "mse") return training::HeadLoss::MeanSquared;
    throw InvalidInput("the head's loss is 'cross_entropy' or 'mse', got '" + loss + "'");
}

// The classical head of a hybrid model bound to the model's flat parameter and gradient vectors (kept
// alive here): run(x, y) -> (loss, input cotangent or None), the cotangent in a buffer reused per row count.
class TrainingHead {
public:
    TrainingHead(const std::vector<LayerTuple>& layers, const std::string& loss, int64_t n_in, py::array params,
                 py::array grads, bool need_dx)
        : head_(head_layers(layers), head_loss(loss), n_in), params_(std::move(params)), grads_(std::move(grads)),
          need_dx_(need_dx) {
        const int64_t n = f64_size(params_, "params");
        out_f64(grads_, "grads", n);
        for (const auto& L : head_.layers()) {
            if (L.op != training::HeadOp::Dense) continue;
            if (L.w_offset + L.n_in * L.n_out > n || L.b_offset + L.n_out > n)
                throw InvalidInput("a dense layer's parameters lie outside the " + std::to_string(n) +
                                   "-entry parameter vector");
        }
    }

    py::tuple run(py::array x, const py::array& y) {
        if (x.ndim() != 2 || x.shape(1) != head_.n_in()) {
            const bool dense = !head_.layers().empty() && head_.layers()[0].op == training::HeadOp::Dense;
            throw InvalidInput(std::string(dense ? "Dense layer" : "the training head") + " expects " +
                               std::to_string(head_.n_in()) + " features, got " +
                               (x.ndim() ? std::to_string(x.shape(x.ndim() - 1)) : std::string("a scalar")) +
                               (x.ndim() == 2 ? "" : " (in an array of " + std::to_string(x.ndim()) + " dimensions)"));
        }
        if (x.dtype().num() != py::detail::npy_api::NPY_DOUBLE_ || !(x.flags() & py::array::c_style))
            x = darray::ensure(x);
        if (!x) throw InvalidInput("the head's inputs must be real numbers");
        const int64_t rows = x.shape(0);
        const int64_t* labels = nullptr;
        const double* targets = nullptr;
        head_targets(head_, y, rows, labels, targets);
        double* dx = nullptr;
        py::object dx_obj = py::none();
        if (need_dx_) {
            auto it = dx_.find(rows);
            if (it == dx_.end()) it = dx_.emplace(rows, py::array_t<double>({rows, head_.n_in()})).first;
            dx = static_cast<double*>(it->second.mutable_data());
            dx_obj = it->second;
        }
        const double loss = head_.run(static_cast<const double*>(x.data()), rows, labels, targets,
                                      static_cast<const double*>(params_.data()),
                                      static_cast<double*>(grads_.mutable_data()), dx);
        return py::make_tuple(loss, dx_obj);
    }

private:
    training::Head head_;
    py::array params_, grads_;
    bool need_dx_;
    std::map<int64_t, py::array> dx_;  // rows -> the input cotangent's buffer
};

training::StepRule step_rule(const std::string& rule) {
    if (rule == "sgd") return training::StepRule::Sgd;
    if (rule == "momentum") return training::StepRule::Momentum;
    if (rule == "nesterov") return training::StepRule::Nesterov;
    if (rule == "scaled") return training::StepRule::Scaled;
    if (rule == "adam") return training::StepRule::Adam;
    throw InvalidInput("the step's rule is 'sgd', 'momentum', 'nesterov', 'scaled' or 'adam', got '" + rule + "'");
}

const sv::Simulator& state_vector_engine(const py::object& engine) {
    if (!py::isinstance<sv::Simulator>(engine))
        throw py::type_error("the fused training step runs on a pyqml._core.StateVector engine, got " +
                             std::string(py::str(py::type::of(engine).attr("__name__"))));
    return engine.cast<const sv::Simulator&>();
}

// A hybrid model's whole training step (hybrid_step.hpp) bound to the model's flat parameter and gradient
// vectors, the optimiser's state vectors and the quantum layer's engine (all kept alive here):
// run(x, y, scalars...) -> loss.
class HybridTrainingStep {
public:
    HybridTrainingStep(const py::object& engine, const std::vector<LayerTuple>& layers, const std::string& loss,
                       py::array params, py::array grads, int64_t q_offset, const std::string& rule,
                       std::vector<py::array> state)
        : engine_(engine), params_(std::move(params)), grads_(std::move(grads)), state_(std::move(state)),
          step_(state_vector_engine(engine), training::Head(head_layers(layers), head_loss(loss),
                                                            state_vector_engine(engine).n_observables()),
                q_offset, f64_size(params_, "params"), step_rule(rule)) {
        const int64_t n = step_.n_params();
        out_f64(params_, "params", n);
        out_f64(grads_, "grads", n);
        const int want = training::rule_states(step_.rule());
        if (int(state_.size()) != want)
            throw InvalidInput("the rule '" + rule + "' updates " + std::to_string(want) + " state vector(s), got " +
                               std::to_string(state_.size()));
        for (size_t i = 0; i < state_.size(); ++i) ptrs_[i] = out_f64(state_[i], "state", n);
        for (const py::array& a : state_)
            if (a.ptr() == params_.ptr() || a.ptr() == grads_.ptr())
                throw InvalidInput("the optimiser's state must not be the parameter or gradient vector");
    }

    double run(py::array x, const py::array& y, double s0, double s1, double s2, double s3, double s4, double s5) {
        const sv::Simulator& sim = step_.simulator();
        const int nx = sim.circuit().n_inputs();
        if (x.ndim() != 2 || x.shape(1) != nx)
            throw InvalidInput("the quantum layer takes rows of " + std::to_string(nx) + " features, got an array of "
                               "shape " + shape_text(x));
        if (x.dtype().num() != py::detail::npy_api::NPY_DOUBLE_ || !(x.flags() & py::array::c_style))
            x = darray::ensure(x);
        if (!x) throw InvalidInput("inputs must be an array of real numbers");
        const int64_t rows = x.shape(0);
        const double* px = static_cast<const double*>(x.data());
        for (int64_t i = 0; i < rows * nx; ++i)
            if (!((px[i] - px[i]) == 0.0)) throw InvalidInput("inputs contain NaN or infinite values");
        const int64_t* labels = nullptr;
        const double* targets = nullptr;
        head_targets(step_.head(), y, rows, labels, targets);
        const double s[training::kStepScalars] = {s0, s1, s2, s3, s4, s5};
        double* params = static_cast<double*>(params_.mutable_data());
        double* grads = static_cast<double*>(grads_.mutable_data());
        py::gil_scoped_release nogil;
        return step_.run(px, rows, labels, targets, params, grads, ptrs_, s);
    }

private:
    static std::string shape_text(const py::array& a) {
        std::string out = "(";
        for (py::ssize_t i = 0; i < a.ndim(); ++i) out += (i ? ", " : "") + std::to_string(a.shape(i));
        return out + (a.ndim() == 1 ? ",)" : ")");
    }

    py::object engine_;
    py::array params_, grads_;
    std::vector<py::array> state_;
    double* ptrs_[2] = {nullptr, nullptr};
    training::HybridStep step_;
};

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
    m.def("identities_hold", [](const py::tuple& guard) {
        for (const py::handle entry : guard) {
            PyObject* e = entry.ptr();
            if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 3)
                throw InvalidInput("identities_hold takes (object, name or None, expected) triples");
            PyObject* obj = PyTuple_GET_ITEM(e, 0);
            PyObject* name = PyTuple_GET_ITEM(e, 1);
            PyObject* want = PyTuple_GET_ITEM(e, 2);
            if (name == Py_None) {  // obj (a list or tuple) holds exactly the items of the tuple want
                if ((!PyList_Check(obj) && !PyTuple_Check(obj)) || !PyTuple_Check(want)) return false;
                const Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
                if (n != PyTuple_GET_SIZE(want)) return false;
                PyObject** items = PySequence_Fast_ITEMS(obj);
                for (Py_ssize_t i = 0; i < n; ++i)
                    if (items[i] != PyTuple_GET_ITEM(want, i)) return false;
            } else if (PyDict_CheckExact(obj)) {  // obj[name] is want
                PyObject* v = PyDict_GetItemWithError(obj, name);
                if (v == nullptr && PyErr_Occurred()) throw py::error_already_set();
                if (v != want) return false;
            } else {  // getattr(obj, name) is want
                PyObject* v = PyObject_GetAttr(obj, name);
                if (v == nullptr) {
                    PyErr_Clear();
                    return false;
                }
                const bool same = v == want;
                Py_DECREF(v);
                if (!same) return false;
            }
        }
        return true;
    }, py::arg("guard"),
       "True when every (obj, name, expected) holds: getattr(obj, name) is expected (obj[name] for a dict), or, "
       "with name None, the list or tuple obj holds exactly expected's items (identity). A training step's "
       "plan checks the objects it was built on with one call.");
    m.def("pairwise_sum", [](const py::array& a) {
        const int64_t n = f64_size(a, "a");
        return training::pairwise_sum(in_f64(a, "a", n), n, 1);
    }, py::arg("a"), "numpy's pairwise sum of a contiguous float64 array's entries (the training head's sums).");
    py::class_<TrainingHead>(m, "TrainingHead",
                             "A hybrid model's classical head (dense layers and activations, then the loss) bound "
                             "to the model's flat parameter and gradient vectors: run(x, y) does the forward "
                             "pass, the loss and the backward pass in one call (cpp/src/training/head.cpp).")
        .def(py::init<const std::vector<LayerTuple>&, const std::string&, int64_t, py::array, py::array, bool>(),
             py::arg("layers"), py::arg("loss"), py::arg("n_in"), py::arg("params"), py::arg("grads"),
             py::arg("need_dx"),
             "layers: [(kind, n_in, n_out, w_offset, b_offset)], kind 'dense' (W, b at the offsets of params "
             "and grads), 'relu', 'tanh', 'sigmoid' or 'identity'; loss 'cross_entropy' or 'mse'.")
        .def("run", &TrainingHead::run, py::arg("x"), py::arg("y"),
             "(loss, dx): y the int64 labels (cross-entropy) or the float64 targets (mse); every dense layer's "
             "gradients written into grads; dx the cotangent of x (a buffer reused per row count) or None.");
    py::class_<HybridTrainingStep>(m, "HybridTrainingStep",
                                   "A hybrid model's whole training step in one call (cpp/src/training/"
                                   "hybrid_step.cpp): a state-vector quantum layer first (values with the "
                                   "VJP's states kept), then a training head (dense layers, activations, the "
                                   "loss), the VJP into the quantum weights' gradients, and the optimiser's "
                                   "flat update, on the model's flat vectors; the GIL released once.")
        .def(py::init<const py::object&, const std::vector<LayerTuple>&, const std::string&, py::array, py::array,
                      int64_t, const std::string&, std::vector<py::array>>(),
             py::arg("engine"), py::arg("layers"), py::arg("loss"), py::arg("params"), py::arg("grads"),
             py::arg("q_offset"), py::arg("rule"), py::arg("state"),
             "engine: the quantum layer's pyqml._core.StateVector, its weights at params[q_offset:]; layers: the "
             "head's (kind, n_in, n_out, w_offset, b_offset) as TrainingHead takes them; rule 'sgd', "
             "'momentum', 'nesterov', 'scaled' (Adagrad, RMSProp) or 'adam', state its vectors (a; fm, sm).")
        .def("run", &HybridTrainingStep::run, py::arg("x"), py::arg("y"), py::arg("s0") = 0.0,
             py::arg("s1") = 0.0, py::arg("s2") = 0.0, py::arg("s3") = 0.0, py::arg("s4") = 0.0,
             py::arg("s5") = 0.0,
             "One training step on rows x against y (labels or targets, as TrainingHead.run): returns the loss "
             "before the update (Nesterov: at the look-ahead point). The scalars are the rule's, in the order of "
             "the update kernels (sgd_step, momentum_step, scaled_step, adam_step) after their arrays.");
}

}  // namespace pyqml::bind
