#pragma once
// A hybrid model's whole training step in one engine call, for a model whose first layer is a state-vector
// quantum layer (expectation values, adjoint gradients) and whose other layers are a training head
// (head.hpp): the quantum values with what the VJP needs kept, the head's forward, loss and backward, the
// VJP from the kept forward into the quantum layer's slice of the gradient vector, and the optimiser's flat
// update (steps.hpp), on the model's flat parameter and gradient vectors.
//
//   params[q]   X (rows, n_in) --quantum layer--> q (rows, n_obs) --head--> loss
//               grads[q] <--VJP (kept forward)-- dq <--head backward--+  (the head's dW, db into grads)
//   params <- update(params, grads, the optimiser's state)
//
// Each piece is the engine's own call of the layer-by-layer step (Simulator::forward and the VJP after it,
// Head::run, the update kernels), in the same order on the same numbers, so the step gives the bits of the
// step taken through Python. The buffers between the pieces (values, cotangents, the kept states) belong to
// the object and are reused while the row count repeats: no allocation after the first step. Nesterov's
// look-ahead (params - momentum * a, restored after the gradient) is done here as the models' step does it.
#include <cstdint>
#include <mutex>
#include <vector>

#include "pyqml/statevector/simulator.hpp"
#include "pyqml/training/head.hpp"

namespace pyqml::training {

// The optimiser's flat update, and the scalars a step passes (as the optimiser computed them from its
// hyper-parameters): Sgd (stepsize), Momentum and Nesterov (momentum, stepsize), Scaled (decay,
// one_minus_decay, stepsize, eps: Adagrad and RMSProp), Adam (beta1, one_minus_beta1, beta2,
// one_minus_beta2, step, eps). State vectors: none, a (Momentum, Nesterov, Scaled), fm and sm (Adam).
enum class StepRule : int32_t { Sgd = 0, Momentum = 1, Nesterov = 2, Scaled = 3, Adam = 4 };
constexpr int kStepScalars = 6;

// How many state vectors (of the parameter vector's length) a rule updates.
int rule_states(StepRule rule);

class HybridStep {
public:
    // sim: the quantum layer's engine (the caller keeps it alive), its weights at params[q_offset, q_offset +
    // n_weights); head: the layers after it (its n_in the engine's observable count); n_params: the length of
    // the parameter vector (and of the gradient vector and of each state vector). Throws InvalidInput.
    HybridStep(const sv::Simulator& sim, Head head, int64_t q_offset, int64_t n_params, StepRule rule);

    const sv::Simulator& simulator() const { return sim_; }
    const Head& head() const { return head_; }
    StepRule rule() const { return rule_; }
    int64_t n_params() const { return n_params_; }

    // One step on x (rows x the circuit's inputs, finite: the caller checked) against labels (cross-entropy,
    // valid: the caller checked with head().bad_label) or targets (mean squared error): returns the loss
    // before the update (for Nesterov at the look-ahead point). state: rule_states(rule) vectors of n_params;
    // scalars: kStepScalars numbers, the rule's first. Thread-safe (one step at a time per object). On an
    // exception the parameters are as before the call.
    double run(const double* x, int64_t rows, const int64_t* labels, const double* targets, double* params,
               double* grads, double* const* state, const double* scalars);

private:
    double value_and_grad(const double* x, int64_t rows, const int64_t* labels, const double* targets,
                          const double* params, double* grads);

    const sv::Simulator& sim_;
    Head head_;
    int64_t q_offset_, n_params_;
    StepRule rule_;
    std::mutex mutex_;
    sv::SavedForward saved_;                 // the forward's kept states, reused step after step
    std::vector<double> q_, dq_, vals_, dw_;  // values, their cotangent, the VJP's values and weight gradient
    std::vector<double> look_, tmp_;         // Nesterov: the parameters before the look-ahead, momentum * a
};

}  // namespace pyqml::training
