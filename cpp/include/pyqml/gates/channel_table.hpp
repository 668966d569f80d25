#pragma once
// The table of noise channels, the sibling of the gate table (gate_table.hpp): name, wire and parameter
// counts, parameter names and bounds, Kraus operators and the derivative of every Kraus operator with
// respect to each parameter. Every engine that simulates noise, the Python channel classes and the tests
// read channels from here (Python through pyqml._core.channel_table()).
//
// Names, parameters and Kraus conventions are PennyLane's (a channel maps rho -> sum_k K_k rho K_k^dag):
//   BitFlip(p)                      sqrt(1-p) I, sqrt(p) X                                    p in [0, 1]
//   PhaseFlip(p)                    sqrt(1-p) I, sqrt(p) Z                                    p in [0, 1]
//   DepolarizingChannel(p)          sqrt(1-p) I, sqrt(p/3) X, Y, Z                            p in [0, 1]
//   AmplitudeDamping(gamma)         [[1, 0], [0, sqrt(1-g)]], [[0, sqrt(g)], [0, 0]]          gamma in [0, 1]
//   GeneralizedAmplitudeDamping(gamma, p)
//                                   sqrt(1-p) x (the two above), sqrt(p) [[sqrt(1-g), 0], [0, 1]],
//                                   sqrt(p) [[0, 0], [sqrt(g), 0]]                            both in [0, 1]
//                                   (PennyLane 0.45's matrices: p is the population of |1> at the fixed point)
//   PhaseDamping(gamma)             [[1, 0], [0, sqrt(1-g)]], [[0, 0], [0, sqrt(g)]]          gamma in [0, 1]
//   PauliError(operators, p)        sqrt(1-p) I, sqrt(p) P (P the Pauli word, carried as its matrix: the op's
//                                   data), 1 or 2 wires                                        p in [0, 1]
//   ResetError(p0, p1)              sqrt(1-p0-p1) I, sqrt(p0) |0><0|, sqrt(p0) |0><1|, sqrt(p1) |1><0|,
//                                   sqrt(p1) |1><1|                                 p0, p1 >= 0, p0 + p1 <= 1
//   ThermalRelaxationError(pe, t1, t2, tq)
//                                   six operators (PennyLane's two cases T2 <= T1 and T2 > T1; in the second
//                                   the last two are zero)    pe in [0, 1], t1 > 0, 0 < t2 <= 2 t1, tq >= 0
//   QubitChannel(K_list)            any Kraus list on 1 or 2 wires (the op's data, K x d x d), trace
//                                   preserving to 1e-10: |sum K^dag K - 1| <= 1e-10
// PennyLane adds 1e-14 under some square roots of ThermalRelaxationError; the table does not (its channel is
// trace preserving to rounding), which moves entries by at most 2e-13.
//
// The first wire of a 2-wire channel is the most significant bit of its Kraus matrices' indices.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pyqml/common/types.hpp"

namespace pyqml::gates {

enum class ChannelId : int {
    None = -1,
    BitFlip, PhaseFlip, DepolarizingChannel, AmplitudeDamping, GeneralizedAmplitudeDamping, PhaseDamping,
    PauliError, ResetError, ThermalRelaxationError, QubitChannel,
    Count
};

struct ChannelSpec {
    ChannelId id;
    const char* name;
    int n_wires;     // 1, or -1: 1 or 2 wires (PauliError: from its word; QubitChannel: from its Kraus list)
    int n_params;
    int n_kraus;     // -1: from the op's data (QubitChannel)
    bool has_data;   // PauliError (the word's matrix) and QubitChannel (the Kraus list)
    // Comma-separated parameter names, PennyLane's ("gamma,p").
    const char* param_names;
    // Plain-words bounds, for messages and docs ("p in [0, 1]").
    const char* bounds;
    // True when the channel maps the identity to itself (E(I) = I: Pauli mixtures, dephasing). False for the
    // damping channels; QubitChannel: false (unknown).
    bool unital;
};

const ChannelSpec& channel_spec(ChannelId id);
std::optional<ChannelId> channel_by_name(std::string_view name);
const std::vector<ChannelSpec>& all_channels();

// Wires the channel acts on, given the op's wire count and data size (complex entries); throws
// InvalidInput naming the channel when they do not fit.
int channel_wire_count(ChannelId id, int requested_wires, size_t data_size);
// Kraus operators of the channel on its n_wires wires for its data (QubitChannel: K x d x d entries).
int kraus_count(ChannelId id, int n_wires, size_t data_size);

// Throws InvalidInput naming the channel, parameter and bound when p is outside the channel's domain
// (NaN included).
void check_channel_params(ChannelId id, const double* p);
// Throws InvalidInput when the op's data does not fit: PauliError's matrix must be a Pauli word (one
// nonzero per row, in {+-1, +-i}, Hermitian) of d x d; QubitChannel's Kraus list must be K x d x d with
// |sum_k K_k^dag K_k - 1| <= 1e-10.
void check_channel_data(ChannelId id, int n_wires, const cplx* data, size_t data_size);

// The Kraus operators (kraus_count x d x d, row-major, d = 2^n_wires) at parameters p (checked).
std::vector<cplx> kraus_matrices(ChannelId id, int n_wires, const double* p, const cplx* data = nullptr,
                                 size_t data_size = 0);
// d K_k / d p[param] for every k (same layout), by forward-mode automatic differentiation of the same
// formulas. Entries are infinite where a Kraus operator has no derivative (sqrt(p) at p = 0).
std::vector<cplx> kraus_dmatrices(ChannelId id, int n_wires, const double* p, int param,
                                  const cplx* data = nullptr, size_t data_size = 0);

// The superoperator S = sum_k K_k (x) conj(K_k) (d^2 x d^2, row-major; row index (i, j) = i * d + j for
// rho[i][j]) and, when dS is given, its derivatives d S / d p[k] for each parameter (n_params x d^2 x d^2).
// With vec(rho)[i * d + j] = rho[i][j], vec(E(rho)) = S vec(rho).
void superoperator(ChannelId id, int n_wires, const double* p, const cplx* data, size_t data_size,
                   cplx* S, cplx* dS = nullptr);

}  // namespace pyqml::gates
