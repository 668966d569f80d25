#pragma once
// A hybrid model's classical head in one pass: the dense layers and element-wise activations after the
// quantum layer, the loss (softmax cross-entropy or mean squared error) and its gradient, and the backward
// pass through the same layers, which writes each dense layer's parameter gradients into the model's flat
// gradient vector and the cotangent of the head's input (the quantum layer's outputs) into a buffer.
//
//   q (rows, n_in) --Dense--> z1 --tanh--> a1 --Dense--> logits --loss--> L
//   dq (rows, n_in) <-------- dz1 <------- da1 <-------- dlogits <---+    (dW, db into the gradient vector)
//
// The arithmetic is pyqml/qml/models.py's numpy path operation for operation (the file is compiled without
// floating-point contraction): the matmuls are written out as BLAS computes them, one multiply-add chain
// per output element in the order of the inner index (fused multiply-adds, as OpenBLAS's kernels), the
// bias added after; the bias gradient sums rows in order (numpy's sum(axis=0) from two columns on, pairwise
// for one); the losses' sums are numpy's pairwise sums. The transcendental functions are libm's.
#include <cstdint>
#include <vector>

namespace pyqml::training {

enum class HeadOp : int32_t { Dense = 0, Relu = 1, Tanh = 2, Sigmoid = 3, Identity = 4 };
enum class HeadLoss : int32_t { CrossEntropy = 0, MeanSquared = 1 };

struct HeadLayer {
    HeadOp op = HeadOp::Identity;
    int64_t n_in = 0, n_out = 0;         // Dense: W is (n_in, n_out); an activation has n_in == n_out
    int64_t w_offset = 0, b_offset = 0;  // Dense: W and b in the parameter (and gradient) vector
};

// numpy's pairwise sum of n doubles `stride` apart (npy_pairwise_sum): fewer than 8 in order from 0.0;
// up to 128 in 8 interleaved accumulators combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the rest
// in order; more: the two halves split at a multiple of 8, each summed so, added.
double pairwise_sum(const double* a, int64_t n, int64_t stride = 1);

class Head {
public:
    // Checks the chain of widths (each layer's n_in the previous layer's n_out); throws InvalidInput.
    Head(std::vector<HeadLayer> layers, HeadLoss loss, int64_t n_in);

    int64_t n_in() const { return n_in_; }
    int64_t n_out() const { return n_out_; }
    HeadLoss loss() const { return loss_; }
    const std::vector<HeadLayer>& layers() const { return layers_; }

    // Every label in [-n_out, n_out) (negative ones count from the last class); else the first bad row.
    int64_t bad_label(const int64_t* labels, int64_t rows) const;

    // Forward over x (rows, n_in), the loss against labels (cross-entropy; checked with bad_label first) or
    // targets (rows * n_out values, mean squared error), and the backward pass: each dense layer's dW and db
    // written into grads at its offsets, the input cotangent into dx (rows, n_in) unless dx is null.
    // Returns the loss. params and grads hold every offset the layers name (the caller checked).
    double run(const double* x, int64_t rows, const int64_t* labels, const double* targets, const double* params,
               double* grads, double* dx);

private:
    std::vector<HeadLayer> layers_;
    HeadLoss loss_;
    int64_t n_in_, n_out_;
    int64_t width_sum_ = 0, width_max_ = 0;
    std::vector<double> acts_;   // each layer's output, rows x n_out, one after the other
    std::vector<double> delta_;  // two ping-pong cotangent buffers of rows x width_max_
    std::vector<double> rowbuf_; // the loss's per-row (or per-entry) terms
};

}  // namespace pyqml::training
