#pragma once
// Rows across SIMD lanes: small registers (at most kLaneMaxWires wires) run kLanes rows of a batch
// together. Amplitude a of lane l lives at re[a * kLanes + l], im[a * kLanes + l] (structure of arrays),
// and so does every bound gate matrix entry, so each step of a gate kernel is one vector operation over
// kLanes rows instead of a scalar complex operation on one row: on a 16-amplitude state the per-row
// kernels spend their time on loop and call overhead, the lane kernels on arithmetic.
//
// A row's arithmetic is the same in every lane and every block (lanes never mix), so results do not
// depend on how rows are grouped or spread over threads. The forward pass, the expectation values and
// the adjoint sweep (Jacobian, VJP) run here; the other measurements use the per-row kernels.
#include <cstdint>
#include <vector>

#include "pyqml/common/types.hpp"
#include "pyqml/observables/pauli.hpp"
#include "pyqml/statevector/program.hpp"

namespace pyqml::sv {

inline constexpr int kLanes = 8;
// The vector width the lane kernels run at in this process: 512 (eight doubles per vector) on CPUs with the
// x86-64-v4 level (AVX-512), else 256; PYQML_LANE_VECTOR_BITS=256 in the environment keeps 256. Each
// lane's arithmetic is the same at either width.
int lane_vector_bits();
// Widest register that runs on lanes: at 2^8 amplitudes a lane block of 1 + 4 states is 160 KiB, which
// stays in L2; beyond it the per-row kernels vectorise over amplitudes themselves.
inline constexpr int kLaneMaxWires = 8;
// Fewer rows than this run per row: a lane block costs about as much as kLanes rows' worth of arithmetic.
inline constexpr int kLaneMinRows = 3;
// The most amplitudes of kept forward states per lane block (LanePlan::n_kept() states of 2^n amplitudes):
// 1024 amplitudes of kLanes rows are 128 KiB in complex128.
inline constexpr int kLaneKeptAmplitudes = 1024;

// Per op of a Program: where its amplitude groups are (precomputed, so the kernels are table-driven).
//
// Permutations are relabellings: an op that only permutes basis states (CNOT, Toffoli, and every fixed
// multi-wire gate whose matrix is a 0/1 permutation: SWAP, CSWAP, ...) moves no amplitude. The plan
// tracks where each logical basis state is stored instead (stored index = perm(logical index)), composes
// the op into that map and writes the following ops' group tables, the diagonal ops' local indices and the
// observables' tables through it, so permutations cost nothing in the forward pass or the adjoint sweep
// (undoing one in the sweep is going back to the map before it, which the earlier ops' tables already use).
struct LaneOp {
    enum Kind { Block, Diag, Perm } kind;
    int dim = 1;                  // Block: 2^targets; Diag: 2^targets
    std::vector<uint32_t> idx;    // Block: stored index of local basis index r of group g at idx[g * dim + r]
    std::vector<uint8_t> local;   // Diag: local index of every stored amplitude
    uint32_t groups() const { return dim ? uint32_t(idx.size() / size_t(dim)) : 0; }
};

// How the lane path binds an op's matrices for a lane block (lanes.cpp). Fixed: no non-constant parameter,
// bound once when the plan is built. The rotations' matrices (and derivatives) are written for all kLanes
// lanes at once from vectorised sines and cosines of their half angles (args: how many, from arg0 on in the
// block's argument buffer). Generic: per lane through the gate table. None: a permutation (no matrix).
// row_shared: every parameter is a weight or a constant, so with weights shared by all rows the op's
// matrices are the same in every lane and are bound once per call (lanes.cpp) instead of once per block.
struct LaneBind {
    enum Kind { None, Fixed, RotX, RotY, RotZ, Phase, Rot, Generic } kind = Generic;
    int arg0 = 0;
    int args = 0;
    int lead = 0;  // RotZ / Phase: diagonal entries of 1 before the rotation's (CRZ, ControlledPhaseShift)
    bool row_shared = false;
};

// An observable in the stored layout of the final state. Diagonal (every term a Z word with a real
// coefficient): one real coefficient per stored amplitude, so <H> = sum_j diag[j] |psi_j|^2 and H psi is
// diag[j] psi_j. Otherwise per term: H psi has out[partner[j]] += phase * sign[j] * psi[j].
struct LaneObservable {
    bool diagonal = false;
    std::vector<double> diag;
    struct Term {
        cplx phase;
        std::vector<uint32_t> partner;
        std::vector<int8_t> sign;
    };
    std::vector<Term> terms;
};

class LanePlan {
public:
    // observables: the Simulator's compiled observables (their stored-layout tables are built here).
    LanePlan(const Program& program, const std::vector<std::vector<PauliMasks>>& observables);
    // Whether every op of the program has a lane kernel (blocks of at most 3 targets).
    static bool supports(const Program& program);
    // Per op (circuit order, the adjoint sweep's tables).
    const std::vector<LaneOp>& ops() const { return ops_; }
    // Product-state prefix: ops [0, prefix_end()) act on one wire each (dense 2x2 or diagonal) and come
    // before every multi-wire op, so the state after them is a Kronecker product of one 2-vector per wire.
    // The lane path builds it directly (no pass over the state), and the adjoint sweep stops at
    // prefix_end(): the prefix's derivatives come from the lambdas contracted with the other wires' vectors
    // (lanes.cpp). prefix_prev()[op]: the prefix op before op on its wire (-1: the wire starts in |0>);
    // prefix_last()[bit]: the last prefix op on that bit's wire (-1: none).
    size_t prefix_end() const { return prefix_end_; }
    const std::vector<int>& prefix_prev() const { return prefix_prev_; }
    // prefix_next()[op]: the prefix op after op on its wire (-1: op is the wire's last).
    const std::vector<int>& prefix_next() const { return prefix_next_; }
    const std::vector<int>& prefix_last() const { return prefix_last_; }
    // Every non-constant parameter of a prefix op (circuit order): its derivative is the rank-one
    // overlap of each lambda's contraction on the op's wire with the parameter's forward tangent, the
    // wire's 2-vector differentiated (dg/dp applied to the op's input vector, then the wire's later
    // prefix ops), which does not depend on the lambda (lanes.cpp).
    struct PrefixParam {
        int op, param, bit, angle;
        bool input;  // the angle reads an input (its tangent is skipped when no input gradient is asked)
    };
    const std::vector<PrefixParam>& prefix_params() const { return prefix_params_; }
    // The forward schedule of the ops from prefix_end() on (runs of single-wire gates fused as in Program),
    // and per item its tables through the map in force where the forward pass applies it (a run: one
    // dense 2x2 block on its bit).
    const std::vector<std::vector<int>>& schedule() const { return sched_; }
    const std::vector<LaneOp>& forward_ops() const { return fwd_; }
    // Kept forward states: when every item of the forward schedule is a single op (no fused runs) and the
    // states fit (kLaneKeptAmplitudes), the Jacobian's forward pass keeps the state before every trainable
    // item, and its adjoint sweep runs over the schedule's items backwards, overlapping each lambda with the kept state
    // instead of un-applying the ops from the final state (no phi pass). kept_slot()[item]: the item's kept
    // state (-1: none; an item has one iff its op has a non-constant parameter). 0 kept: the sweep un-applies.
    int n_kept() const { return n_kept_; }
    const std::vector<int>& kept_slot() const { return kept_slot_; }
    const std::vector<LaneBind>& binds() const { return binds_; }
    const std::vector<LaneObservable>& observables() const { return obs_; }
    // Whether every observable is diagonal (one pass computes all values and all lambdas).
    bool diagonal_observables() const { return all_diag_; }
    // How many ops are moved by relabelling instead of a kernel.
    int relabelled() const { return relabelled_; }
    // Sine/cosine arguments per lane of a block (the rotations' half angles and phases).
    int n_args() const { return n_args_; }
    // Whether some non-Fixed op is row_shared.
    bool any_row_shared() const { return any_shared_; }
    // The ops lane_bind writes (neither None nor Fixed), split into those bound per row and the row_shared
    // ones; the per-row ops' sine/cosine arguments come first, [0, n_row_args()), the shared ones' after.
    const std::vector<int>& bound_ops() const { return bound_ops_; }
    const std::vector<int>& row_ops() const { return row_ops_; }
    const std::vector<int>& shared_ops() const { return shared_ops_; }
    int n_row_args() const { return n_row_args_; }
    // The angles of the row ops (angle indices, increasing): with shared weights, the only angles a block
    // binds per row.
    const std::vector<int>& row_angles() const { return row_angles_; }
    const std::vector<ParamRef>& row_angle_refs() const { return row_angle_refs_; }
    // The forward and inverse matrices of the Fixed ops, in the Program's matrix-buffer layout (entries of
    // other ops are unused).
    const std::vector<cplx>& fixed_matrices() const { return fixed_; }
    // The Jacobian's chain rule from angles to weights and inputs: every parameter reference to a weight,
    // then every one to an input (circuit order), each with its angle; and per part (0 weights, 1 inputs),
    // when every index has exactly one reference, the reference of each index (else empty).
    struct ChainRef {
        int angle, index;
        double scale;
    };
    const std::vector<ChainRef>& chain_refs() const { return chain_; }
    int n_weight_refs() const { return n_weight_refs_; }
    const std::vector<ChainRef>& chain_onto(int part) const { return onto_[part]; }

private:
    std::vector<LaneOp> ops_;
    std::vector<LaneOp> fwd_;
    std::vector<std::vector<int>> sched_;
    size_t prefix_end_ = 0;
    std::vector<int> prefix_prev_, prefix_next_, prefix_last_;
    std::vector<PrefixParam> prefix_params_;
    std::vector<int> bound_ops_, row_ops_, shared_ops_, row_angles_;
    std::vector<ParamRef> row_angle_refs_;
    int n_row_args_ = 0;
    std::vector<LaneBind> binds_;
    std::vector<LaneObservable> obs_;
    bool all_diag_ = false;
    bool any_shared_ = false;
    int relabelled_ = 0;
    int n_args_ = 0;
    int n_kept_ = 0;
    std::vector<int> kept_slot_;
    std::vector<cplx> fixed_;
    std::vector<ChainRef> chain_, onto_[2];
    int n_weight_refs_ = 0;
};

// s[i] = sin(x[i]), c[i] = cos(x[i]) for |x[i]| <= pi (the lane binding's reduced half angles and
// phases), vectorised over i: Cody-Waite reduction by pi/2 in three parts and fdlibm's kernels on
// [-pi/4, pi/4]; within 1e-15 relative of std::sin / std::cos (tests/cpp). Other x give NaN or garbage.
void lane_sincos(const double* x, size_t count, double* s, double* c);

}  // namespace pyqml::sv
