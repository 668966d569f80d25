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
// Widest register that runs on lanes: at 2^8 amplitudes a lane block of 1 + 4 states is 160 KiB, which
// stays in L2; beyond it the per-row kernels vectorise over amplitudes themselves.
inline constexpr int kLaneMaxWires = 8;
// Fewer rows than this run per row: a lane block costs about as much as kLanes rows' worth of arithmetic.
inline constexpr int kLaneMinRows = 3;

// Per op of a Program: where its amplitude groups are (precomputed, so the kernels are table-driven).
struct LaneOp {
    enum Kind { Block, SwapX, Diag } kind;
    int dim = 1;                    // Block: 2^targets; Diag: 2^targets
    std::vector<uint32_t> bases;    // Block / SwapX: first amplitude of each group with the controls set
    uint32_t offs[8] = {0};         // Block: offset of each local basis index; SwapX: offs[1] = target mask
    std::vector<uint8_t> local;     // Diag: local index of every amplitude
};

// How the lane path binds an op's matrices for a lane block (lanes.cpp). Fixed: no non-constant parameter,
// bound once when the plan is built. The rotations' matrices (and derivatives) are written for all kLanes
// lanes at once from vectorised sines and cosines of their half angles (args: how many, from arg0 on in the
// block's argument buffer). Generic: per lane through the gate table. None: a permutation (no matrix).
struct LaneBind {
    enum Kind { None, Fixed, RotX, RotY, RotZ, Phase, Rot, Generic } kind = Generic;
    int arg0 = 0;
    int args = 0;
    int lead = 0;  // RotZ / Phase: diagonal entries of 1 before the rotation's (CRZ, ControlledPhaseShift)
};

class LanePlan {
public:
    explicit LanePlan(const Program& program);
    // Whether every op of the program has a lane kernel (blocks of at most 3 targets).
    static bool supports(const Program& program);
    const std::vector<LaneOp>& ops() const { return ops_; }
    // A dense 2x2 block on one bit (the fused runs of single-wire gates of the forward schedule).
    const LaneOp& single(int bit) const { return single_[bit]; }
    const std::vector<LaneBind>& binds() const { return binds_; }
    // Sine/cosine arguments per lane of a block (the rotations' half angles and phases).
    int n_args() const { return n_args_; }
    // The forward and inverse matrices of the Fixed ops, in the Program's matrix-buffer layout (entries of
    // other ops are unused).
    const std::vector<cplx>& fixed_matrices() const { return fixed_; }

private:
    std::vector<LaneOp> ops_;
    std::vector<LaneOp> single_;
    std::vector<LaneBind> binds_;
    int n_args_ = 0;
    std::vector<cplx> fixed_;
};

// s[i] = sin(x[i]), c[i] = cos(x[i]) for |x[i]| <= pi (the lane binding's reduced half angles and
// phases), vectorised over i: Cody-Waite reduction by pi/2 in three parts and fdlibm's kernels on
// [-pi/4, pi/4]; within 1e-15 relative of std::sin / std::cos (tests/cpp). Other x give NaN or garbage.
void lane_sincos(const double* x, size_t count, double* s, double* c);

}  // namespace pyqml::sv
