#pragma once
// The tensor-network method: expectation values of Pauli sums and their gradients, term by term through
// reverse light cones over the circuit's fused units (fusion.hpp). Terms whose cones share a structure share one ContractionPlan (the plans are made
// in Python by the path search and handed over); every term is then bound to its own numbers and
// contracted in C++, a batch of rows and all terms in one call, spread over threads.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pyqml/circuit/circuit.hpp"
#include "pyqml/common/batch.hpp"
#include "pyqml/common/threads.hpp"
#include "pyqml/observables/pauli.hpp"
#include "pyqml/tensornet/contraction.hpp"
#include "pyqml/tensornet/fusion.hpp"
#include "pyqml/tensornet/lightcone.hpp"

namespace pyqml::cuda {
class TnDevice;  // the GPU tensor network (cpp/cuda/tensornet_gpu.cpp) runs these plans
}  // namespace pyqml::cuda

namespace pyqml::tn {

using pyqml::Batch;
using pyqml::Precision;

// The structure of one cone: its units (gates or fused blocks) on local wires and the Pauli letters.
struct Structure {
    std::string key;
    int n_wires = 0;
    std::string letters;
    std::vector<StructGate> gates;
    std::vector<std::vector<int>> gate_wires;  // local wires per gate (a block: its wires, in its matrix order)
};

class Executor {
    friend class pyqml::cuda::TnDevice;

public:
    // fuse: build cones over fused blocks (fusion.hpp); false keeps one unit per op.
    Executor(const Circuit& circuit, const std::vector<Observable>& observables, Precision precision,
             bool fuse = true);
    Executor(const Executor&) = delete;  // fused_ refers to circuit_
    Executor& operator=(const Executor&) = delete;

    const Circuit& circuit() const { return circuit_; }
    const FusedCircuit& fused() const { return fused_; }
    int n_observables() const { return static_cast<int>(obs_terms_.size()); }
    int n_terms() const { return static_cast<int>(terms_.size()); }
    int n_structures() const { return static_cast<int>(structures_.size()); }
    const Structure& structure(int s) const { return structures_[s]; }
    int term_structure(int t) const { return terms_[t].structure; }
    const Cone& term_cone(int t) const { return terms_[t].cone; }
    // Terms per structure.
    std::vector<int64_t> structure_counts() const;

    void set_plan(int structure, std::shared_ptr<ContractionPlan> plan);
    // Bytes the next call needs: the workspaces of the threads it will use (forward-only or with the backward
    // sweep, as the call allocates them), the permutation tables not yet built, and the per-row results of
    // one block of rows; checked before allocating.
    // With gradients, each plan's workspace is that of the layout gradient_layouts() picks (contraction.hpp:
    // stored values when they fit the memory limit, else checkpoints and recomputation).
    double estimated_bytes(int64_t rows, bool gradients) const;
    // Per structure, the layout of a gradient call on `rows` rows: 1 (every value stored) or a recompute
    // layout (ContractionPlan::recompute_layout), chosen by each thread's share of the memory limit.
    std::vector<int> gradient_layouts(int64_t rows) const;
    // 0 (auto, the default): recompute only where the stored values would not fit; 1: never; 2: always the
    // layout with the smallest workspace.
    void set_recompute(int mode);
    int recompute_mode() const { return recompute_mode_; }
    // Complex multiply-adds a gradient call on `rows` rows spends on recomputation (0: nothing recomputed).
    double gradient_recompute_macs(int64_t rows) const;

    // Every call may contract a range of slices only, [slice_begin, slice_end) of each term's plan (clipped
    // to its slices; slice_end < 0: to the last): the results are then those slices' shares, and the
    // observables' constant terms count in the range that starts at 0 only, so the shares of ranges that
    // cover every slice add up to the full result (distributed execution, pyqml/distributed.py).
    void expval(const Batch& b, double* out, int64_t slice_begin = 0, int64_t slice_end = -1) const;  // rows x n_obs
    void jacobian(const Batch& b, double* vals, double* dw, double* dx, int64_t slice_begin = 0,
                  int64_t slice_end = -1) const;
    void vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx, int64_t slice_begin = 0,
             int64_t slice_end = -1) const;
    // The most slices of any term's plan.
    int64_t max_slices() const;

    // Term batching (on by default): the terms of one structure are contracted kLanes at a time, one batch
    // of the plan's pairwise steps for all of them (ContractionPlan::forward_lanes), when every plan is
    // unsliced, the bound gate matrices of a block of rows fit the unit cache and the batch workspaces fit
    // the memory limit; otherwise term by term. Off: always term by term (the reference path).
    static constexpr int kLanes = 8;
    void set_term_batching(bool on) { term_batching_ = on; }
    bool term_batching() const { return term_batching_; }
    // Whether a call on `rows` rows (gradients or not) contracts its terms in batches.
    bool batches_terms(int64_t rows, bool gradients) const;

private:
    struct Term {
        Cone cone;
        int structure = -1;
        int n_grad = 0;        // gate angles in the cone
        int64_t grad_offset = 0;
    };
    struct ObsTerm {
        int term;
        double coeff;
    };
    // Values (rows x terms) and, when grads is set, d value / d angle for every cone angle of every term
    // (rows x total cone angles), handed to `take` block by block of rows.
    template <class F, class Take>
    void run(const Batch& b, bool grads, Take&& take, int64_t slice_begin, int64_t slice_end) const;
    void angles_of_row(const Batch& b, int64_t r, double* angles) const;
    // dang[angle] += scale * d term / d angle, for the cone angles of `term` (its gradient gt laid out
    // op by op over the cone, as `run` hands it over).
    void add_term_gradient(const Term& term, double scale, const double* gt, double* dang) const;
    // One block of rows handed over by `run` (per-term values `vals`, cone gradients `g`) turned into the
    // observables' values and Jacobians (rows x observables x weights / inputs), or their VJP with the
    // cotangents `cot`; `with_const` adds the observables' constants (the call holding slice 0).
    void jacobian_rows(int64_t r0, int64_t nr, const double* vals, const double* g, bool with_const,
                       double* vals_out, double* dw, double* dx) const;
    void vjp_rows(const Batch& b, const double* cot, int64_t r0, int64_t nr, const double* vals, const double* g,
                  bool with_const, double* vals_out, double* dw, double* dx) const;
    // Bytes of a term-by-term call besides the workspaces (tables, one block's results, the unit cache), and
    // its threads.
    double call_overhead(int64_t rows, bool gradients, double& threads) const;
    // Bytes of a call whose terms run in lane batches (every gradient workspace storing its values).
    double batched_bytes(int64_t rows, bool gradients) const;
    int recompute_mode_ = 0;
    // The unit cache: every unit of some cone bound once per row (its matrix and, for gradients, its
    // derivative matrices), so that no term binds a gate itself; units without parameters once per executor.
    // Complex elements of one row, its bytes for a block of `rows` rows (0 when over kUnitCacheBytes: the
    // units are then bound per term), and the rows of a block.
    int64_t unit_cache_elements(bool gradients) const;
    double unit_cache_bytes(int64_t rows, bool gradients) const;
    int64_t block_rows(int64_t rows, bool gradients) const;
    double estimated_bytes(int64_t rows, bool gradients, bool batched) const;
    bool can_batch() const;
    // A structure runs in lane batches when it has at least kLanes / 2 terms and kLanes of its workspaces fit
    // in kLaneWorkspaceBytes (wider plans run term by term, through BLAS); the terms left over after whole
    // batches form one padded batch when they are at least kLanes / 2, else run term by term.
    bool lane_structure(int s, bool gradients) const;
    struct Job {
        int64_t r;
        int s;
        int first, count;  // terms structure_terms_[s][first .. first + count)
        bool lanes;        // a lane batch (count <= kLanes), else one term (count = 1)
    };
    std::vector<Job> batch_jobs(int64_t rows, bool gradients) const;
    // Whether a lane structure also has terms that run on their own (a tail under kLanes / 2).
    bool single_jobs(int s) const;
    static constexpr double kLaneWorkspaceBytes = 8.0 * (1 << 20);
    static constexpr int kLaneMaxWidth = 10;
    static constexpr double kUnitCacheBytes = 256.0 * (1 << 20);

    Circuit circuit_;
    FusedCircuit fused_;
    // Per unit that is a plain gate: what binding its matrix needs, in one flat array (the per-term loop then
    // reads no Unit or Op structures).
    struct PlainGate {
        gates::GateId gate = gates::GateId::I;
        int n_wires = 0;  // 0: a fused block
        int angle_offset = 0;
        const cplx* unitary = nullptr;
    };
    std::vector<PlainGate> plain_;
    // Unit cache layout: per unit, its matrix's offset in a row of the cache (-1: not cached per row), its
    // derivative matrices' offset in the row's derivative part, and the offset of a parameterless unit's
    // matrix in const_cache_ (-1: none); the parametrised units of some cone, in order.
    std::vector<int64_t> unit_off_, dunit_off_, const_off_;
    std::vector<int> row_units_;
    // Per unit: its index in row_units_ (-1: not bound per row), and whether a parameterless unit's matrix is
    // real (term batches whose matrices are all real run the real lane programs, contraction.hpp).
    std::vector<int> row_index_;
    std::vector<int> row_unit_size_;  // per row unit: complex elements of its matrix
    std::vector<char> const_real_;
    // Per unit: where its matrix is (>= 0: offset in a row of the unit cache; < 0: -1 - offset in const_cache_)
    // and its realness (>= 0: its index in row_units_, the row's flag; -1: a real constant; -2: complex).
    std::vector<int64_t> unit_src_;
    std::vector<int> unit_realix_;
    // Per structure of at least kLanes / 2 terms, the units of its lane batches laid out as the batches read
    // them: batch b (terms b kLanes ..., the last padded with its last term), gate j, lane l at
    // (b * n_gates + j) * kLanes + l (one contiguous read per batch, no walk through the terms' cones).
    std::vector<std::vector<int>> batch_units_;
    std::vector<cplx> const_cache_;
    int64_t n_unit_cache_ = 0, n_dunit_cache_ = 0;
    std::vector<std::vector<int>> structure_terms_;  // terms of each structure, in term order
    bool term_batching_ = true;
    Precision precision_;
    std::vector<Term> terms_;
    // Per term, the circuit angle of each of its cone gradients (at its grad_offset, in the order of
    // add_term_gradient: cone ops, then their parameters).
    std::vector<int> grad_angle_;
    std::vector<std::vector<ObsTerm>> obs_terms_;
    std::vector<double> obs_const_;
    std::vector<Structure> structures_;
    std::vector<std::shared_ptr<ContractionPlan>> plans_;
    int64_t total_grad_ = 0;
};

// Amplitudes <b|U|0> for a batch of rows: `plan` is the amplitude network of the whole circuit (ket gate j =
// circuit op j, basis-vector leaves for b); out: rows complex values. Rows are spread over threads.
void amplitudes(const Circuit& circuit, ContractionPlan& plan, const Batch& b, Precision precision, cplx* out);

using pyqml::max_threads;

}  // namespace pyqml::tn
