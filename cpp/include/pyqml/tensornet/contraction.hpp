#pragma once
// A compiled contraction plan for one network structure <0|U^dag P U|0> and its execution:
// pairwise steps as permutation + (batched) GEMM, and reverse mode through the same tree.
//
//   leaves (gate tensors, |0>, Pauli)  --steps (a, b) -> c-->  ...  --> scalar
//
// Every index has dimension 2. An index may be shared by more than two tensors (a hyperedge: the
// input and output index of a wire on which a gate acts diagonally are one index). In step (a, b) each
// index of a or b is a batch index (in a, b and kept), a contracted index (in a and b, not kept) or a
// free index (in one operand, kept); the result's index order is [batch, free of a, free of b].
//
// Reverse mode (Evenbly & Pfeifer, arXiv:1310.8023, sec. on environments): with C = A.B per step,
// dE/dA = dE/dC . B^T and dE/dB = A^T . dE/dC, swept from the root down, give every leaf's environment
// in one backward pass. Only subtrees holding a parametrised ket gate are visited. Since E is real and
// the bra half is the conjugate of the ket half, dE/dtheta = 2 Re sum(env_ket * dU/dtheta).
//
// Workspace: every tensor (leaf value, step result, environment, gather copy of a permuted operand) gets an
// offset in one buffer, assigned by liveness over the sweep's time line, so that memory is reused:
//
//   time 0: leaves filled | 1..S: forward steps | S+1..2S: backward steps (last first) | 2S+1: gradients read
//
// A leaf lives from 0, a step result from its step, each until the step that consumes it; with gradients a
// value lives on until the backward step that needs it (its sibling's environment), an environment from the
// backward step that writes it to the one that reads it (a leaf's until the end). A step whose operand's
// index order is not [batch, free, contracted] (a) or [batch, contracted, free] (b) gathers it into a copy
// live at that step only; a backward step has the same gather copies (for the operand it reads) and one
// buffer for an environment it scatters. Two tensors live at a common time never share memory (so no step
// writes over what it reads). Offsets come from a deterministic greedy interval allocator (largest first,
// each at the lowest free offset, over a few orders); sizes are powers of two. There are two layouts:
// forward only (values, short lifetimes) and forward + backward (built on first use).
//
// Slicing: a plan may fix some indices (`sliced`, chosen by the planner so that every tensor fits a memory
// target). The plan then contracts the network with those indices removed from every tensor, once per
// assignment of values to them (a slice, an integer whose bit k is the value of sliced[k]); the sum over all
// slices is the full contraction. Leaves are filled per slice from the full gate matrices (the entries at
// the slice's values), so one workspace of the reduced sizes serves every slice, and the environments of a
// slice's backward sweep give that slice's share of each gradient (the shares sum to the full gradient).
//
// Recomputation (checkpointing) inside a slice: the gradient layout keeps every value the backward sweep
// needs from the forward sweep to its use, which for a deep tree holds most intermediates at once. A
// recompute layout with threshold c keeps only the intermediates of at most 2^c elements (the checkpoints)
// and the leaves; a larger value that a backward step needs (its sibling's environment) is recomputed just
// before that step from the nearest checkpoints and leaves below it, and dropped after it:
//
//   forward (values, checkpoints kept) | per backward step: recompute the operand it needs, then the step
//
// c = -1 keeps no intermediate (every needed value recomputed from the leaves). Every layout is a schedule of
// forward and backward steps placed by the same liveness allocator; the recomputed steps are the forward
// steps themselves (the same GEMMs on the same operands), so the gradient equals the stored one. The
// executor uses the stored layout when it fits the memory limit, else the recompute layout with the largest
// threshold that fits (the least recomputation), and the memory guard checks that one.
#include <array>
#include <cstdint>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pyqml/common/types.hpp"
#include "pyqml/gates/channel_table.hpp"
#include "pyqml/gates/gate_table.hpp"

namespace pyqml::cuda {
class TnDevice;  // the GPU tensor network (cpp/cuda/tensornet_gpu.cpp) runs these plans
}  // namespace pyqml::cuda

namespace pyqml::tn {

// One: the basis vector |1> (with Zero, the <b| ends of an amplitude network).
enum class LeafKind : int { KetGate = 0, BraGate = 1, Zero = 2, Pauli = 3, PauliDiag = 4, One = 5 };

struct Leaf {
    LeafKind kind = LeafKind::Zero;
    int gate = -1;      // KetGate/BraGate: position of the gate in the structure's gate list
    char letter = 'I';  // Pauli ('X', 'Y', 'Z' as 2x2, labels [bra, ket]) and PauliDiag ('Z' diagonal)
    std::vector<int> labels;
};

struct Step {
    int a = 0, b = 0;        // tensor ids: leaves 0..L-1, then step results L, L+1, ...
    std::vector<int> keep;   // indices the result keeps (the order is chosen here)
};

// A gate of a structure as the plan sees it (matrices are bound per term): its name (a gate of the table,
// or a fused block such as "[CNOT 0 1; RZ 1; CNOT 0 1]"), its wires, on which of them it acts diagonally
// (one index there instead of an input and an output) and its parameter count.
//
// A channel (noise) is one superoperator tensor joining the ket and the bra line of each of its k wires:
// as a StructGate it has 2k wires (the k ket lines, then the k bra lines), none diagonal, and no bra copy;
// its "matrix" is the superoperator S[(ko, bo), (ki, bi)] = sum_K K[ko, ki] conj(K[bo, bi]) (4^k x 4^k).
struct StructGate {
    std::string name;
    int n_wires = 1;
    std::vector<char> diagonal;  // per wire
    int n_params = 0;
    bool channel = false;
    bool operator==(const StructGate& o) const {
        return name == o.name && n_wires == o.n_wires && diagonal == o.diagonal && n_params == o.n_params &&
               channel == o.channel;
    }
    bool operator!=(const StructGate& o) const { return !(*this == o); }
};

// The StructGate of one gate of the table on n_wires wires (per-wire diagonality from the table).
StructGate struct_gate(gates::GateId id, int n_wires);
// The StructGate of a channel of the channel table on n_wires wires: its 2 n_wires-line superoperator form.
StructGate struct_channel(gates::ChannelId id, int n_wires);

// Gather table of a permuted copy: out[o] = in[table[o]], the copy listing the source's index positions
// `order` (a tensor of `rank` indices).
std::vector<uint32_t> gather_table(const std::vector<int>& order, int rank);

class ContractionPlan {
    friend class pyqml::cuda::TnDevice;

public:
    // sliced: indices fixed per slice (distinct labels of the network); empty: one slice, the whole network.
    ContractionPlan(std::vector<StructGate> gates, std::vector<Leaf> leaves, std::vector<Step> steps,
                    std::vector<int> sliced = {});

    int n_leaves() const { return static_cast<int>(leaves_.size()); }
    int n_steps() const { return static_cast<int>(steps_.size()); }
    const std::vector<StructGate>& gates() const { return gates_; }
    // Complex multiply-adds of one forward contraction, and of the backward sweep (all slices).
    double forward_macs() const { return fwd_macs_ * double(n_slices()); }
    double backward_macs() const { return bwd_macs_ * double(n_slices()); }
    // The same for one slice.
    double slice_forward_macs() const { return fwd_macs_; }
    double slice_backward_macs() const { return bwd_macs_; }
    // The sliced indices and the number of slices (2^len(sliced)).
    const std::vector<int>& sliced() const { return sliced_; }
    int64_t n_slices() const { return int64_t(1) << sliced_.size(); }
    // log2 of the largest tensor (of one slice).
    int width() const { return width_; }
    // Complex elements of the workspace a call allocates (every tensor and gather copy, placed by liveness),
    // for a forward-only call (values, amplitudes) or one with the backward sweep (gradients).
    int64_t workspace_elements(bool gradients) const;
    // Layouts: 0 forward only, 1 gradients with every needed value stored, recompute_layout(c) gradients with
    // checkpoints of at most 2^c elements (c = -1 .. width()-1) and the rest recomputed.
    static constexpr int kMaxRecompute = 64;
    static int recompute_layout(int c) { return c + 3; }
    static bool is_recompute(int layout) { return layout >= 2; }
    // Complex elements of a layout's workspace, and its bytes per thread (recompute layouts built on first use;
    // -1 when a recompute layout's schedule would exceed kMaxScheduleFactor times the steps).
    int64_t layout_elements(int layout) const;
    double layout_bytes(int elem_bytes, int layout) const { return double(layout_elements(layout)) * elem_bytes; }
    // Complex multiply-adds a gradient call on one slice recomputes in a layout (0 for layouts 0 and 1).
    double recompute_macs(int layout) const;
    // The gradient layout for a per-thread budget of `bytes` (elements of elem_bytes). mode 0 (auto): the stored
    // layout when it fits, else the recompute layout with the largest threshold that fits, else the layout with
    // the smallest workspace (the guard then refuses it); 1: always the stored layout; 2: always the smallest.
    int gradient_layout_for(double bytes, int elem_bytes, int mode) const;
    static constexpr int kMaxScheduleFactor = 8;
    // Bytes of the permutation tables (shared by all threads, built once by prepare()).
    double table_bytes() const { return table_bytes_; }
    // Bytes one thread allocates to run the plan (its workspace), for elements of `elem_bytes`.
    double bytes_per_thread(int elem_bytes, bool gradients) const {
        return double(workspace_elements(gradients)) * elem_bytes;
    }
    // What the plan was built from (for serialisation).
    const std::vector<Leaf>& leaves() const { return leaves_; }
    const std::vector<Step>& steps() const { return step_defs_; }

    // Builds the permutation tables (call once the memory check passed; idempotent and thread-safe).
    void prepare();
    bool prepared() const { return prepared_.load(); }

    // ---- execution on one workspace of layout_elements(layout) elements ----
    // `layout` (0 forward only, 1 stored gradients, a recompute layout; a bool reads as 0 or 1) must be the same
    // in every call of one contraction; backward and ket_gradient need a gradient layout (1 or recompute).
    // `slice` (0 .. n_slices()-1) picks the values of the sliced indices; the same slice for every leaf
    // and for ket_gradient of one contraction.
    template <class T>
    void fill_gate(T* ws, int gate, const cplx* full_matrix, int layout, int64_t slice = 0) const;
    template <class T>
    void fill_constants(T* ws, int layout, int64_t slice = 0) const;
    template <class T>
    std::complex<T> forward(T* ws, int layout) const;
    // Environments of every parametrised ket gate (the root's adjoint is 1).
    template <class T>
    void backward(T* ws, int layout = 1) const;
    // 2 Re sum(env_ket(gate) * dU) for dU = d full_matrix / d theta.
    template <class T>
    double ket_gradient(const T* ws, int gate, const cplx* full_dmatrix, int64_t slice = 0, int layout = 1) const;

    // ---- a batch of W contractions of one unsliced plan at once (lanes; contraction_lanes.cpp) ----
    // W terms of one structure differ only in their gate tensors' values: every tensor of the plan is held
    // for all W of them, element by element, as W real parts then W imaginary parts (2 W reals per complex
    // element, at the plan's own offsets times 2 W), so each pairwise step is one product over the batch in
    // which every multiply-add is a vector operation across the W lanes. Lanes never mix: a lane's result is
    // that of its contraction alone. The workspace holds lane_workspace_reals(gradients, W) reals.
    int64_t lane_workspace_reals(bool gradients, int W) const { return workspace_elements(gradients) * 2 * W; }
    // Bytes of the lane programs a batched call builds (forward, and with gradients the backward sweep):
    // each pairwise step flattened into its output elements and their (operand, operand) element pairs, so
    // a batch runs every step as one loop of lane multiply-adds at fixed workspace offsets (no gathers, no
    // per-step loop nests; built once per plan on first use, shared by all threads).
    double lane_table_bytes(bool gradients) const {
        return 8.0 * (lane_outs_[0] + lane_pairs_[0] + (gradients ? lane_outs_[0] + lane_pairs_[0] + lane_outs_[1] + lane_pairs_[1] : 0));
    }
    // Real batches: when every gate matrix of a batch (all its lanes) and every constant leaf is real (an
    // RY / CZ / CNOT / H circuit, Z and X words), every tensor of the contraction and of the backward sweep is
    // real. With `real` set, the lane calls then touch the W real parts of each element only (the imaginary
    // parts are neither written nor read): the fills write half the values, and each multiply-add of the
    // sweeps is one real fused multiply-add per lane instead of four, on the same operands in the same order,
    // so a real batch's values equal those of the complex lane programs on the same (real) data (the
    // gradients, read from the real environments, to rounding).
    // constants_real(): no constant leaf is complex (a Y word's leaf is).
    bool constants_real() const { return constants_real_; }
    // m[l]: the full matrix of the gate for lane l (l < W); `real`: its real parts only (the bra copy equals
    // the ket copy).
    template <class T, int W>
    void fill_gate_lanes(T* ws, int gate, const cplx* const* m, bool gradients, bool real = false) const;
    template <class T, int W>
    void fill_constants_lanes(T* ws, bool gradients, bool real = false) const;
    // out[l]: the real part of lane l's contraction.
    template <class T, int W>
    void forward_lanes(T* ws, bool gradients, double* out, bool real = false) const;
    template <class T, int W>
    void backward_lanes(T* ws, bool real = false) const;
    // out[l] = 2 Re sum(env_ket(gate) * dm[l]) of lane l (real batches: env_ket is real).
    template <class T, int W>
    void ket_gradient_lanes(const T* ws, int gate, const cplx* const* dm, double* out, bool real = false) const;

private:
    struct Slot {
        int64_t size = 1;
        int64_t offset[2] = {0, 0};  // value: forward-only layout, gradient layout
        int64_t adj = -1;            // environment (gradient layout), when needed
        std::vector<int> labels;
    };
    struct StepExec {
        int a, b, out;
        int64_t nb, m, k, n;
        std::vector<int> a_order, b_order;   // source positions, in the permuted order
        std::vector<uint32_t> perm_a, perm_b;  // gather tables (empty when the order is the identity)
        bool id_a, id_b;
        // Gather copies: forward (per layout), backward (a, b; and the scatter buffer); -1 when unused.
        int64_t ga[2] = {-1, -1}, gb[2] = {-1, -1}, bga = -1, bgb = -1, bgc = -1;
    };

    // A recompute layout: its schedule (forward steps, recomputed steps, backward steps) with resolved offsets.
    struct RcOp {
        bool backward = false;
        int step = 0;
        // forward / recomputed step: operand values, result, gather copies
        int64_t a = -1, b = -1, c = -1, ga = -1, gb = -1;
        // backward step: operand values read (-1: not needed), environments, gather and scatter copies
        int64_t va = -1, vb = -1, cbar = -1, abar = -1, bbar = -1, bga = -1, bgb = -1, bgc = -1;
    };
    struct RcLayout {
        bool ok = false;           // false: the schedule would be too long (the layout is not offered)
        std::vector<int64_t> leaf; // value offset per leaf
        std::vector<int64_t> adj;  // environment offset per leaf (-1: none)
        std::vector<RcOp> ops;     // the first n_steps() are the forward sweep
        int64_t root = 0, root_adj = -1, total = 0;
        double macs = 0;           // recomputed multiply-adds
    };
    const RcLayout& rc_layout(int layout) const;
    void build_rc_layout(int c, RcLayout& out) const;
    int64_t value_offset(int t, int layout) const;
    template <class C>
    void forward_step(C* base, const StepExec& ex, int64_t a, int64_t b, int64_t c, int64_t ga, int64_t gb) const;
    template <class C>
    void backward_step(C* base, const StepExec& ex, int64_t va, int64_t vb, int64_t cbar, int64_t abar,
                       int64_t bbar, int64_t bga, int64_t bgb, int64_t bgc) const;
    // A lane program: output element o (at workspace element out[o]) is the sum over pairs p in
    // [start[o], start[o + 1]) of ws[x[p]] * ws[y[p]]; outputs run in order (a step's after the steps it reads).
    struct LaneProgram {
        std::vector<uint32_t> out, start, x, y;
    };
    // 0: forward sweep in the forward-only layout, 1: forward sweep in the gradient layout, 2: backward sweep.
    const LaneProgram& lane_program(int which) const;
    void build_lane_program(int which, LaneProgram& out) const;
    mutable std::array<std::once_flag, 3> lp_once_;
    mutable std::array<std::unique_ptr<LaneProgram>, 3> lp_;
    double lane_outs_[2] = {0, 0}, lane_pairs_[2] = {0, 0};  // forward, backward sweep (sizes, for the guard)
    mutable std::array<std::once_flag, kMaxRecompute> rc_once_;
    mutable std::array<std::unique_ptr<RcLayout>, kMaxRecompute> rc_;

    std::vector<StructGate> gates_;
    std::vector<Leaf> leaves_;
    std::vector<Step> step_defs_;
    std::vector<Slot> slots_;
    std::vector<StepExec> steps_;
    std::vector<int> ket_leaf_, bra_leaf_;          // per gate
    std::vector<std::vector<int>> gate_map_;        // per gate: tensor element -> full-matrix entry
    std::vector<char> need_adj_;
    // Slicing: per leaf, the full tensor's element of each element of the sliced tensor with the sliced
    // indices at 0 (empty: the leaf holds no sliced index), and per sliced index it holds (slice bit, weight
    // of that index in the full tensor).
    std::vector<int> sliced_;
    std::vector<std::vector<int64_t>> red_map_;
    std::vector<std::vector<std::pair<int, int64_t>>> slice_bits_;
    int64_t full_element(int leaf, int64_t t, int64_t slice) const {
        if (red_map_[leaf].empty()) return t;
        int64_t e = red_map_[leaf][t];
        for (const auto& [k, w] : slice_bits_[leaf])
            if (slice >> k & 1) e += w;
        return e;
    }
    void assign_offsets(bool gradients);
    void gradient_layout() const;

    int64_t ws_fwd_ = 0, ws_grad_ = 0;
    double fwd_macs_ = 0, bwd_macs_ = 0, table_bytes_ = 0;
    int width_ = 0;
    bool constants_real_ = true;
    std::atomic<bool> prepared_{false};
    std::mutex prepare_mutex_;
    mutable std::once_flag grad_once_;
};

}  // namespace pyqml::tn
