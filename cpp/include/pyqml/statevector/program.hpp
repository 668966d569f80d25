#pragma once
// A circuit compiled for the state-vector method: per op, which kernel applies it and on which bits;
// per call, the gate matrices bound from the angles. The forward pass fuses runs of single-wire gates into
// one 2x2 matrix (max fused qubits = 1); the adjoint sweep walks the unfused ops. From kFuseMinWires wires
// on, both walk two-wire fused blocks instead (fusion.cpp: one 2x2 / 4x4 pass per block); with the cache
// tiles switched on (tiles.hpp, from kTileMinWires wires), both run over tiles: several gates per pass.
#include <vector>

#include "pyqml/circuit/circuit.hpp"
#include "pyqml/statevector/apply_gate.hpp"
#include "pyqml/statevector/tiles.hpp"

namespace pyqml::sv {

// Widest register the state-vector method addresses (amplitude indices and the memory guard decide below it).
inline constexpr int kMaxWires = 40;

struct OpKernel {
    enum Kind { Dense1, Dense2, Controlled1, ControlledX, Controlled, Diagonal } kind;
    int bits[64];     // controls first, then targets (gate wire order), as bit positions (MultiRZ: any count)
    int nc = 0;       // number of control bits
    int nt = 0;       // number of target bits
    int mat_offset;   // where this op's matrix starts in the bound matrix buffer
    int mat_size;     // entries: 2^nt for diagonal, 4^nt otherwise
    unsigned trainable_mask = 0;  // bit k: parameter k is not a constant
    int dmat_offset = 0;          // where its parameter derivatives start in the derivative region
};

// Two-wire fusion (fusion.cpp), from kFuseMinWires wires: the ops are regrouped into items, each either one
// op run by its own kernel, or a block of several ops on one or two wires applied as one 2x2 / 4x4 matrix
// (the product of its ops, later ops on the left), in an order that respects every wire's op order. The
// forward pass and the adjoint sweep both walk these items; a block's parameter derivatives come from one
// local overlap with the block's own derivative matrices dB/dtheta = (ops after) dU/dtheta (ops before).
inline constexpr int kFuseMinWires = 10;

struct FusedItem {
    std::vector<int> ops;   // op indices, circuit order
    int nq = 0;             // 0: a single op (its own kernel); 1 or 2: a fused 2x2 / 4x4 block
    int bits[2] = {0, 0};   // a block's bit positions, bits[0] the high bit of its local index
    int offset = 0;         // a block's matrices in the fused buffer: forward, inverse, then one per derivative
    std::vector<std::pair<int, int>> derivs;  // (op, parameter) of each derivative matrix, in buffer order
};

// Process-wide switch between the fused items and the per-gate passes (default on); tests compare both.
bool fusion_enabled();
void set_fusion_enabled(bool on);

// Fused programs split one row's amplitudes over the threads from this many wires (Simulator::for_rows;
// below it rows are spread, or one thread runs each row). Measured on the 2-core machine with nothing else
// running (bench/results/band_split_2026-12-02.md, W2, split against the row on one thread, wall time): the
// gradient 1.5x faster at 16 wires, 1.8x at 17, 2.0x at 18; the value 1.24x at 16 and 1.26-1.49x at 18
// (at 14-15 the two are within the noise). Under load from other processes the split gains less: the
// threads wait for each other.
inline constexpr int kFusedParallelMinWires = 16;
int fused_parallel_min_wires();
void set_fused_parallel_min_wires(int n);  // for measuring the threshold (tests, benchmarks)
// Whether a fused forward pass / adjoint sweep runs in one parallel region (team.hpp, default on) or
// opens one per pass; for A/B measurements.
bool sweep_region_enabled();
void set_sweep_region_enabled(bool on);

class Program {
public:
    explicit Program(const Circuit& circuit);

    const Circuit& circuit() const { return circuit_; }
    int n_wires() const { return circuit_.n_wires(); }
    size_t n_ops() const { return kernels_.size(); }
    // Size of the bound-matrix buffer: forward matrices, their inverses, then (for gradients) the
    // derivative of every non-constant parameter's matrix.
    size_t matrix_buffer_size() const { return 2 * size_t(mat_total_) + size_t(dmat_total_); }
    // Index of the first op with a non-constant parameter (the adjoint sweep stops there).
    size_t first_trainable_op() const { return first_trainable_; }
    // The per-op kernels, the fused forward schedule and the size of the forward-matrix region (the lane
    // kernels of lanes.cpp read them).
    const std::vector<OpKernel>& kernels() const { return kernels_; }
    const std::vector<std::vector<int>>& schedule() const { return schedule_; }
    size_t mat_total() const { return size_t(mat_total_); }

    // The compiled ops and the fused forward schedule, for other back ends (the CUDA kernels): op i's
    // forward matrix is at mats + kernel(i).mat_offset, its inverse at mats + inverse_offset() + mat_offset,
    // its parameter derivatives at mats + derivative_offset() + dmat_offset.
    const OpKernel& kernel(size_t op) const { return kernels_[op]; }
    size_t inverse_offset() const { return size_t(mat_total_); }
    size_t derivative_offset() const { return 2 * size_t(mat_total_); }
    // The 2x2 product of a schedule item's run of single-wire matrices (later gates on the left).
    void fuse_run(const std::vector<int>& item, const cplx* mats, cplx* acc) const;

    // Real floating-point operations of the state arithmetic (flops.cpp documents the per-gate model):
    // applying op i once to a 2^n state, the overlap that the adjoint sweep takes at op i, the forward
    // pass of the fused schedule. Exact integers, for one row.
    int64_t op_flops(size_t op) const;
    int64_t overlap_flops(size_t op) const;
    int64_t forward_flops() const;

    // Gate matrices (and their inverses, and with_derivs their parameter derivatives) for one row of angles.
    void bind_matrices(const double* angles, cplx* mats, bool with_derivs = false) const;

    template <class F>
    void forward(amp_t<F>* psi, const cplx* mats, bool par) const;  // from |0...0>, fused (tiled when wide)
    // The per-gate forward pass (the reference for the tiled one).
    template <class F>
    void forward_per_gate(amp_t<F>* psi, const cplx* mats, bool par) const;
    // Whether the forward pass and the adjoint sweep run over cache tiles (registers of kTileMinWires wires
    // and more), and the segments they use.
    bool tiled() const { return !fwd_tiles_.empty() && tiles_enabled(); }
    // Whether the forward pass and the adjoint sweep run over the fused items (fusion.cpp; not when tiled).
    bool fused() const { return !fused_.empty() && fusion_enabled() && !tiled(); }
    const std::vector<FusedItem>& fused_items() const { return fused_; }
    // The matrices of every fused block for one row, from matrices bound by bind_matrices (with_derivs:
    // the blocks' derivative matrices too, from matrices bound with_derivs): fused_buffer_size() entries.
    size_t fused_buffer_size() const { return size_t(fused_total_); }
    void bind_fused(const cplx* mats, bool with_derivs, cplx* out) const;
    template <class F>
    void forward_fused(amp_t<F>* psi, const cplx* mats, bool par) const;
    // The adjoint sweep over the fused items (fused() programs), with the contract of backward_tiled.
    template <class F>
    void backward_fused(const cplx* mats, amp_t<F>* phi, amp_t<F>* const* lams, int nl, bool par,
                        double* d_angles) const;
    const std::vector<TileSegment>& forward_tiles() const { return fwd_tiles_; }
    const std::vector<TileSegment>& backward_tiles() const { return bwd_tiles_; }
    // The adjoint sweep over cache tiles (tiled() programs): phi = psi, lams[l] = H_l psi on entry;
    // d_angles (nl x n_angles) receives 2 Re <lam_l| dU/d angle |phi> for every angle of the ops from the
    // first trainable one on (others 0). phi and the lambdas are overwritten.
    template <class F>
    void backward_tiled(const cplx* mats, amp_t<F>* phi, amp_t<F>* const* lams, int nl, bool par,
                        double* d_angles) const;
    template <class F>
    void apply(size_t op, amp_t<F>* psi, const cplx* mats, bool inverse, bool par) const;
    // psi <- (d U_op / d angle k) psi, from matrices bound with_derivs.
    template <class F>
    void apply_derivative(size_t op, int k, const cplx* mats, amp_t<F>* psi, bool par) const;

    // The adjoint method's per-op steps (defined in cpp/src/statevector/adjoint.cpp, with the sweep):
    // out[k] = 2 Re <lam| dU_op/d angle_k |phi> for every non-constant parameter k of the op (others left
    // untouched), from matrices bound with_derivs, in one pass over the two states.
    template <class F>
    void derivative_brakets(size_t op, const cplx* mats, const amp_t<F>* lam, const amp_t<F>* phi, double* out,
                            bool par) const;

    // One step of the adjoint sweep for one lambda: (if update_phi) phi <- U^dag phi, then the derivative
    // terms (into out, as derivative_brakets), then (if update_lam) lam <- U^dag lam. Fused into one pass
    // for 2x2 gates. With several lambdas, the first call updates phi and the others pass update_phi = false.
    template <class F>
    void adjoint_step(size_t op, const cplx* mats, amp_t<F>* phi, amp_t<F>* lam, double* out, bool update_phi,
                      bool update_lam, bool par) const;

private:
    template <class F>
    void derivatives_from_overlap(const OpKernel& k, size_t op, const cplx* mats, const cplx* G, double* out) const;
    template <class F>
    void run_kernel(const OpKernel& kern, int n, amp_t<F>* psi, const cplx* m, bool zero_off, bool par) const;
    // adjoint_step / derivative_brakets for op's kernel `k` (its bits possibly local to a tile of n bits).
    template <class F>
    void adjoint_step_kernel(const OpKernel& k, size_t op, int n, const cplx* mats, amp_t<F>* phi, amp_t<F>* lam,
                             double* out, bool update_phi, bool update_lam, bool par) const;
    template <class F>
    void derivative_brakets_kernel(const OpKernel& k, size_t op, int n, const cplx* mats, const amp_t<F>* lam,
                                   const amp_t<F>* phi, double* out, bool par) const;
    template <class F>
    void forward_tiled(amp_t<F>* psi, const cplx* mats, bool par) const;
    void build_fused();  // fusion.cpp
    template <class F>
    void apply_fused_item(const FusedItem& it, amp_t<F>* psi, const cplx* mats, const cplx* fmats, bool inverse,
                          bool par) const;

    Circuit circuit_;
    std::vector<OpKernel> kernels_;
    int mat_total_ = 0;
    int dmat_total_ = 0;
    size_t first_trainable_ = 0;
    // Fused forward schedule: each item is a list of op indices; a list of several is a run of
    // single-wire gates on one wire, applied as one 2x2 product.
    std::vector<std::vector<int>> schedule_;
    // Cache tiles (empty below kTileMinWires wires): the forward pass's over the schedule items, the
    // adjoint sweep's over the ops from the last to the first.
    std::vector<TileSegment> fwd_tiles_, bwd_tiles_;
    // Fused items (empty below kFuseMinWires wires), the size of their matrix buffer, and the first item that
    // holds a trainable op (the fused adjoint sweep stops there).
    std::vector<FusedItem> fused_;
    int fused_total_ = 0;
    size_t first_trainable_item_ = 0;
};

}  // namespace pyqml::sv
