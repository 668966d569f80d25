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

class LanePlan {
public:
    explicit LanePlan(const Program& program);
    // Whether every op of the program has a lane kernel (blocks of at most 3 targets).
    static bool supports(const Program& program);
    const std::vector<LaneOp>& ops() const { return ops_; }
    // A dense 2x2 block on one bit (the fused runs of single-wire gates of the forward schedule).
    const LaneOp& single(int bit) const { return single_[bit]; }

private:
    std::vector<LaneOp> ops_;
    std::vector<LaneOp> single_;
};

}  // namespace pyqml::sv
