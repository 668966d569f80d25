#pragma once
// The CUDA state-vector kernels' host interface: plain structs and launchers, no CUDA or engine headers,
// so that the host code (statevector_gpu.cpp, compiled by the C++ compiler) and the kernels
// (kernels.cu, compiled by nvcc) share one description of a compiled op.
//
// Amplitudes are interleaved (re, im) pairs of F (double for complex128, float for complex64), the
// layout of std::complex<F>; gate matrices are always complex128 pairs, converted in the kernels.
// Every launcher runs on the current device's default stream and throws CudaError (a std::runtime_error
// carrying the CUDA message) when a launch fails.
#include <cstdint>
#include <stdexcept>
#include <string>

namespace pyqml::cuda {

struct CudaError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Throws CudaError("CUDA error in <what>: <message>") when code is not cudaSuccess (code is a cudaError_t).
void check(int code, const char* what);

// One op as the kernels see it.
//   Dense: a 2^nt x 2^nt matrix (nt = 1..3) on target bits, acting where every control bit is set.
//     sorted: the nc + nt involved bits ascending (to spread a group index over the others);
//     cmask: the control bits; offs[r]: the target bits of local index r (first target = high bit).
//   Diagonal: psi[i] *= d[local(i)], local(i) from bits[0..nt) (bits[0] = high bit of the local index).
struct DevOp {
    enum Kind : int { Dense = 0, Diagonal = 1 };
    int kind = Dense;
    int nt = 0;
    int nc = 0;
    int nsorted = 0;
    int sorted[8] = {};
    uint64_t cmask = 0;
    uint64_t offs[8] = {};
    int bits[64] = {};
    // Offsets (complex entries) into a row's matrix buffer: the forward matrix, its inverse, the
    // derivative of parameter 0 (parameter p at dmat + p * mat_size).
    int mat = 0;
    int inv = 0;
    int dmat = 0;
    int mat_size = 0;
    unsigned trainable_mask = 0;  // bit p: parameter p is trainable (at most 3 parameters)
    int angle_offset = 0;         // where the op's parameters start among the circuit's angles
};

// One Pauli string of an observable: P = phase * X^xmask Z^zmask (in the engine's PauliMasks convention).
struct DevTerm {
    uint64_t xmask = 0;
    uint64_t zmask = 0;
    double phase_re = 1.0;
    double phase_im = 0.0;
};

// ---------------------------------------------------------------------------------------------------
// One state at a time (large registers): one launch per op, reductions into per-block partial sums that a
// second launch adds in a fixed order (results do not depend on scheduling).
// ---------------------------------------------------------------------------------------------------

// Partial sums use at most this many blocks; a partial buffer holds kMaxPartials * 4 doubles.
inline constexpr int kMaxPartials = 1024;

template <class F>
void set_basis_zero(void* psi, int n);
// psi <- op psi with the matrix at m (device pointer to complex128 entries).
template <class F>
void apply_op(void* psi, int n, const DevOp& op, const void* m);
// out[t * 2 + {0, 1}] = (re, im) of sum_i sign_z(i) conj(psi[i ^ x]) psi[i] for each term t (device out).
template <class F>
void pauli_sums(const void* psi, int n, const DevTerm* terms, int n_terms, double* partials, double* out);
// out[i ^ x] += coef * sign_z(i) * psi[i] (coef = phase * scale).
template <class F>
void accumulate_pauli(const void* psi, int n, const DevTerm& term, double scale, void* out);
// *out = sum_i |a_i|^2 (device out).
template <class F>
void norm_sq(const void* a, int n, double* partials, double* out);
// Marginal probabilities of wires given as bit positions (first = high bit of the output index); out on
// the device, 2^k doubles.
template <class F>
void marginal_probs(const void* psi, int n, const int* bits, int k, double* out);
// One fused step of the adjoint sweep (trainable op): if update_phi, phi <- U^dag phi; then for each
// trainable parameter p, out[p] = 2 Re <lam| dU/dp |phi> (device out, indexed by parameter); then if
// update_lam, lam <- U^dag lam. mats: the row's matrix buffer on the device.
template <class F>
void adjoint_step(void* phi, void* lam, int n, const DevOp& op, const void* mats, bool update_phi, bool update_lam,
                  double* partials, double* out);

// ---------------------------------------------------------------------------------------------------
// Batches of small registers: one warp per row runs the whole circuit, its states in shared memory
// (or in a global scratch area when they do not fit), one launch for a whole chunk of rows.
// ---------------------------------------------------------------------------------------------------

struct BatchArgs {
    enum Mode : int { Values = 0, Jacobian = 1, Vjp = 2 };
    int mode = Values;
    int n = 0;
    const DevOp* fwd = nullptr;  // fused forward schedule (device)
    int n_fwd = 0;
    const DevOp* ops = nullptr;  // unfused ops (device), for the backward sweep
    int n_ops = 0;
    int stop = 0;                // first trainable op
    const DevTerm* terms = nullptr;  // every observable's terms, concatenated (device)
    const int* obs_start = nullptr;  // n_obs + 1 offsets into terms (device)
    int n_obs = 0;
    int n_angles = 0;
    int64_t rows = 0;
    const void* mats = nullptr;  // rows x stride complex128 entries (device)
    int64_t stride = 0;
    const double* cot = nullptr;  // rows x n_obs (Vjp)
    double* vals = nullptr;       // rows x n_obs
    double* dangles = nullptr;    // rows x n_lambda x n_angles
    void* scratch = nullptr;      // global states when not in shared memory: warps x states_per_row x 2^n
};

// Launch geometry the batch kernel will use for `states_per_row` states of n wires: warps per block,
// blocks, and whether the states live in shared memory (else BatchArgs::scratch needs
// blocks * warps_per_block * states_per_row * 2^n amplitudes).
struct BatchGeometry {
    int warps_per_block = 1;
    int blocks = 1;
    bool shared = true;
    size_t shared_bytes = 0;
};
template <class F>
BatchGeometry batch_geometry(int n, int states_per_row, int64_t rows);
template <class F>
void run_batch(const BatchArgs& a, const BatchGeometry& g);

}  // namespace pyqml::cuda
