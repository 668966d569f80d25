#pragma once
// The GPU tensor network's device kernels (tn_kernels.cu), driven by tensornet_gpu.cpp: plain structs and
// launchers, no CUDA or engine headers.
//
// A group of `cnt` contractions of one plan (items: a row, a term and a slice each) shares one workspace in
// which every tensor of the plan's layout, at offset o and of size S (complex elements of one contraction),
// holds the cnt contractions' copies contiguously: copy j at o * cnt + j * S. Offsets that the plan's
// liveness allocator keeps apart stay apart, and a pairwise step over the group is one strided-batched GEMM
// (operand q of copy j at (j * nb + q) times the operand's matrix size).
//
// Items are numbered g0, g0 + 1, ... within one call's items of a structure, slice fastest:
//   item i -> slice lo + i % NS, pair p = i / NS -> row p / T, the structure's term p % T.
// Every launcher runs on the current device's default stream and throws CudaError when a launch fails.
#include <cstdint>

namespace pyqml::cuda {

// One leaf of a plan as the fill and gradient kernels read it.
struct TnLeaf {
    int64_t start = 0;  // its first element among all leaves' elements (one contraction)
    int64_t size = 1;   // complex elements (of one slice)
    int kind = 0;       // 0: a gate tensor read from the bound matrices; 1: a constant tensor (c)
    int gate = 0;       // gate of the structure (kind 0)
    int conj = 0;       // the bra copy: the conjugate
    int64_t red = -1;   // offset of its element map in the red table (sliced leaves), -1: identity
    int64_t gmap = -1;  // offset of its gate's map (tensor element -> full-matrix entry) in the gmap table
    int nbits = 0;      // sliced indices it holds: (slice bit, weight) pairs at bits[2 * bits_at ...]
    int64_t bits_at = 0;
    double c[8] = {};   // kind 1: the full tensor, (re, im) of up to 4 elements
};

// One parameter of a parametrised ket gate: its gradient is f * 2 Re sum_t env[t] * dU[gmap[full(t)]].
struct TnGrad {
    int leaf = 0;
    int gate = 0;
    int param = 0;
    int64_t msize = 0;  // entries of one full derivative matrix
    double f = 1.0;     // 0.5 for a channel (no bra copy)
};

// What every kernel of one group needs (device pointers, except the scalars).
struct TnGroup {
    void* ws = nullptr;             // the workspace (complex F)
    int64_t cnt = 0;                // items in the group
    int64_t g0 = 0;                 // the first item's number
    int64_t ns = 1, lo = 0, terms = 1;  // slices per pair, first slice, terms of the structure
    int n_gates = 0;                // gates of the structure
    const TnLeaf* leaves = nullptr;
    const int* elem_leaf = nullptr;  // leaf of each element (one contraction), e_total entries
    int64_t e_total = 0;
    const int64_t* leaf_off = nullptr;  // per leaf: value offset in the layout
    const int64_t* leaf_adj = nullptr;  // per leaf: environment offset (-1: none)
    const int64_t* red = nullptr;
    const int* gmap = nullptr;
    const int64_t* bits = nullptr;
    const void* consts = nullptr;   // complex128 matrices of the parameterless units
    const void* rows = nullptr;     // complex128 bound matrices (and derivatives) of a block of rows
    int64_t stride = 0;             // complex entries per row in `rows`
    const int64_t* src = nullptr;   // terms x gates: >= 0 offset in consts, else -1 - offset in a row
    const int64_t* dsrc = nullptr;  // terms x gates: offset of the derivative matrices in a row
};

// Fills every leaf of every item.
template <class F>
void tn_fill(const TnGroup& g);
// dst(j) <- src(j)[perm] (gather, scatter = false) or dst(j)[perm] <- src(j) (scatter) for each copy j of
// a tensor of `size` elements; src and dst are workspace offsets (times cnt: the group's copies).
template <class F>
void tn_permute(const TnGroup& g, int64_t src, int64_t dst, int64_t size, const uint32_t* perm, bool scatter);
// out[j] = Re ws[root * cnt + j] (device out).
template <class F>
void tn_root(const TnGroup& g, int64_t root, double* out);
// ws[off * cnt + j] = 1 for every j (the root's environment).
template <class F>
void tn_set_one(const TnGroup& g, int64_t off);
// out[j * ng + q] for q < ng: the gradient entries (device out).
template <class F>
void tn_grads(const TnGroup& g, const TnGrad* grads, int ng, double* out);
// Adds the group's items to their pairs' results in slice order: vals[r * nt + term_id[t]] and
// g[r * total_grad + term_goff[t] + q] (device arrays; item_g has ng entries per item).
void tn_accumulate(const TnGroup& g, const double* item_v, const double* item_g, int ng, const int64_t* term_id,
                   const int64_t* term_goff, int64_t nt, int64_t total_grad, double* vals, double* grads);

}  // namespace pyqml::cuda
