// A hybrid model's whole training step in one engine call (see hybrid_step.hpp).
#include "pyqml/training/hybrid_step.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "pyqml/common/errors.hpp"
#include "pyqml/training/steps.hpp"

// Nesterov's look-ahead must round as numpy's two operations (multiply, then subtract): no contraction.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace pyqml::training {

int rule_states(StepRule rule) {
    switch (rule) {
    case StepRule::Sgd:
        return 0;
    case StepRule::Adam:
        return 2;
    default:
        return 1;
    }
}

HybridStep::HybridStep(const sv::Simulator& sim, Head head, int64_t q_offset, int64_t n_params, StepRule rule)
    : sim_(sim), head_(std::move(head)), q_offset_(q_offset), n_params_(n_params), rule_(rule) {
    const int64_t nw = sim.circuit().n_weights();
    if (q_offset < 0 || q_offset + nw > n_params)
        throw InvalidInput("the quantum layer's " + std::to_string(nw) + " weights at offset " +
                           std::to_string(q_offset) + " lie outside the " + std::to_string(n_params) +
                           "-entry parameter vector");
    if (head_.n_in() != sim.n_observables())
        throw InvalidInput("the head takes " + std::to_string(head_.n_in()) + " columns, the quantum layer gives " +
                           std::to_string(sim.n_observables()));
    for (const HeadLayer& L : head_.layers()) {
        if (L.op != HeadOp::Dense) continue;
        if (L.w_offset + L.n_in * L.n_out > n_params || L.b_offset + L.n_out > n_params)
            throw InvalidInput("a dense layer's parameters lie outside the " + std::to_string(n_params) +
                               "-entry parameter vector");
    }
}

double HybridStep::value_and_grad(const double* x, int64_t rows, const int64_t* labels, const double* targets,
                                  const double* params, double* grads) {
    const size_t no = size_t(sim_.n_observables());
    const size_t nw = size_t(sim_.circuit().n_weights());
    q_.resize(size_t(rows) * no);
    dq_.resize(size_t(rows) * no);
    vals_.resize(size_t(rows) * no);
    dw_.resize(std::max<size_t>(nw, 1));
    Batch b;
    b.weights = params + q_offset_;
    b.inputs = sim_.circuit().n_inputs() > 0 ? x : nullptr;
    b.rows = rows;
    // The quantum layer's training forward (values, what the VJP needs kept), the head, then the layer's
    // backward without input gradients (the first layer's are not used).
    sim_.forward(b, q_.data(), saved_);
    const double loss = head_.run(q_.data(), rows, labels, targets, params, grads, dq_.data());
    sim_.vjp(b, dq_.data(), vals_.data(), dw_.data(), nullptr, &saved_);
    std::copy(dw_.data(), dw_.data() + nw, grads + q_offset_);
    return loss;
}

double HybridStep::run(const double* x, int64_t rows, const int64_t* labels, const double* targets, double* params,
                       double* grads, double* const* state, const double* s) {
    std::lock_guard<std::mutex> lock(mutex_);
    const int64_t n = n_params_;
    double loss = 0.0;
    switch (rule_) {
    case StepRule::Sgd:
        loss = value_and_grad(x, rows, labels, targets, params, grads);
        sgd_step(params, grads, n, s[0]);
        break;
    case StepRule::Momentum:
        loss = value_and_grad(x, rows, labels, targets, params, grads);
        momentum_step(params, grads, state[0], n, s[0], s[1]);
        break;
    case StepRule::Nesterov: {
        // The gradient at x - momentum * a, then x restored and the momentum step from it.
        look_.assign(params, params + n);
        tmp_.resize(size_t(n));
        const double* a = state[0];
        for (int64_t i = 0; i < n; ++i) tmp_[size_t(i)] = a[i] * s[0];
        for (int64_t i = 0; i < n; ++i) params[i] = params[i] - tmp_[size_t(i)];
        try {
            loss = value_and_grad(x, rows, labels, targets, params, grads);
        } catch (...) {
            std::copy(look_.begin(), look_.end(), params);
            throw;
        }
        std::copy(look_.begin(), look_.end(), params);
        momentum_step(params, grads, state[0], n, s[0], s[1]);
        break;
    }
    case StepRule::Scaled:
        loss = value_and_grad(x, rows, labels, targets, params, grads);
        scaled_step(params, grads, state[0], n, s[0], s[1], s[2], s[3]);
        break;
    case StepRule::Adam:
        loss = value_and_grad(x, rows, labels, targets, params, grads);
        adam_step(params, grads, state[0], state[1], n, s[0], s[1], s[2], s[3], s[4], s[5]);
        break;
    }
    return loss;
}

}  // namespace pyqml::training
