// The trajectories method: see cpp/include/pyqml/trajectories/trajectories.hpp for the estimator.
#include "pyqml/trajectories/trajectories.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <new>
#include <string>

#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/common/threads.hpp"
#include "pyqml/gates/channel_table.hpp"
#include "pyqml/statevector/apply_gate.hpp"
#include "pyqml/statevector/measure.hpp"
#include "pyqml/statevector/overlap.hpp"

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

namespace pyqml::traj {

using sv::amp_t;

namespace {

// Per-trajectory results are gathered in blocks of at most this many doubles, then summed in order.
constexpr int64_t kBlockDoubles = int64_t(1) << 22;

// SplitMix64 (Steele, Lea & Flood 2014): a counter-based generator, so (seed, row, trajectory) alone fixes
// a trajectory's draws.
inline uint64_t mix(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

struct Rng {
    uint64_t state;
    double uniform() {  // [0, 1)
        state += 0x9E3779B97F4A7C15ull;
        return double(mix(state - 0x9E3779B97F4A7C15ull) >> 11) * 0x1.0p-53;
    }
};

bool is_unitary(const cplx* m, int dim) {
    for (int r = 0; r < dim; ++r)
        for (int c = 0; c < dim; ++c) {
            cplx s = 0;
            for (int j = 0; j < dim; ++j) s += std::conj(m[j * dim + r]) * m[j * dim + c];
            if (std::abs(s - (r == c ? 1.0 : 0.0)) > 1e-12) return false;
        }
    return true;
}

// Whether a dim x dim matrix is the identity to rounding (1e-14 an entry).
bool is_identity(const cplx* m, int dim) {
    for (int r = 0; r < dim; ++r)
        for (int c = 0; c < dim; ++c)
            if (std::abs(m[r * dim + c] - (r == c ? 1.0 : 0.0)) > 1e-14) return false;
    return true;
}

// Mixed-unitary channels: every scaled Kraus matrix K_k / sqrt(q_k) is unitary, nothing to keep.
bool mixed_unitary(gates::ChannelId id) {
    using C = gates::ChannelId;
    return id == C::BitFlip || id == C::PhaseFlip || id == C::DepolarizingChannel || id == C::PauliError;
}

// One op as the trajectory applies it: the bits of its wires and a dense (or diagonal) matrix.
template <class F>
void apply_matrix(amp_t<F>* psi, int n, const int* bits, int k, bool diagonal, const cplx* m, bool par) {
    if (diagonal) {
        sv::apply_diagonal<F>(psi, n, bits, k, m, par);
    } else if (k == 1) {
        sv::apply_dense1<F>(psi, n, bits[0], m, par);
    } else if (k == 2) {
        sv::apply_dense2<F>(psi, n, bits[0], bits[1], m, par);
    } else {
        sv::apply_controlled<F>(psi, n, nullptr, 0, bits, k, m, false, par);
    }
}

// G_rc = sum over groups conj(lam[r]) phi[c] (diagonal: G_r), so <lam|D|phi> = sum D_rc G_rc.
template <class F>
void overlap(const amp_t<F>* lam, const amp_t<F>* phi, int n, const int* bits, int k, bool diagonal, cplx* G,
             bool par) {
    if (diagonal) sv::overlap_diagonal<F>(lam, phi, n, bits, k, G, par);
    else if (k == 1) sv::overlap1<F>(lam, phi, n, bits[0], -1, G, par);
    else sv::overlap_block<F>(lam, phi, n, nullptr, 0, bits, k, G, par);
}

std::vector<cplx> adjoint_of(const std::vector<cplx>& m, int dim, bool diagonal) {
    std::vector<cplx> a(m.size());
    if (diagonal) {
        for (size_t i = 0; i < m.size(); ++i) a[i] = std::conj(m[i]);
    } else {
        for (int r = 0; r < dim; ++r)
            for (int c = 0; c < dim; ++c) a[c * dim + r] = std::conj(m[r * dim + c]);
    }
    return a;
}

std::vector<cplx> diagonal_of(const std::vector<cplx>& m, int dim) {
    std::vector<cplx> d(dim);
    for (int r = 0; r < dim; ++r) d[r] = m[r * dim + r];
    return d;
}

// The forward pass of one trajectory without gradients, its ops fused: every single-wire op (gate or chosen
// Kraus matrix) joins the nearest two-wire op on its wire, the one before it when there is one (it moves
// back past ops on other wires only), else the next one; each two-wire op is then applied once as the 4x4
// product of itself and the single-wire ops it took. Ops on more wires are barriers on their wires.
// Skipped ops (`skip`: identity Kraus choices) are not applied at all.
template <class F>
void apply_fused(amp_t<F>* psi, int n, const std::vector<Op>& ops, const std::vector<std::vector<cplx>>& mats,
                 const std::vector<char>& diag, const std::vector<char>& skip, const int* bits_all,
                 const std::vector<int>& bit_off) {
    const int m = static_cast<int>(ops.size());
    std::vector<int> owner(m, -1);         // single-wire op -> the two-wire op it joins (-1: on its own)
    std::vector<int> last(n, -1);          // per wire: the two-wire op the next single-wire ops join
    std::vector<std::vector<int>> waiting(n);  // per wire: single-wire ops waiting for the next two-wire op
    std::vector<char> fused(m, 0);          // two-wire op with at least one member
    for (int j = 0; j < m; ++j) {
        if (skip[j]) continue;
        const auto& ws = ops[j].wires;
        if (ws.size() == 1) {
            const int w = ws[0];
            if (last[w] >= 0) {
                owner[j] = last[w];
                fused[last[w]] = 1;
            } else {
                waiting[w].push_back(j);
            }
        } else if (ws.size() == 2) {
            for (int w : ws) {
                for (int q : waiting[w]) owner[q] = j;
                if (!waiting[w].empty()) fused[j] = 1;
                waiting[w].clear();
                last[w] = j;
            }
        } else {
            for (int w : ws) {
                waiting[w].clear();  // applied on their own, before this op
                last[w] = -1;
            }
        }
    }
    auto embed = [&](int q, int pos, cplx* E) {  // single-wire op q at position pos (0: high bit) as 4x4
        cplx a[4];
        if (diag[q]) {
            a[0] = mats[q][0];
            a[1] = a[2] = 0.0;
            a[3] = mats[q][1];
        } else {
            std::copy(mats[q].begin(), mats[q].begin() + 4, a);
        }
        for (int r = 0; r < 4; ++r)
            for (int c = 0; c < 4; ++c) {
                const int rh = r >> 1, rl = r & 1, ch = c >> 1, cl = c & 1;
                E[r * 4 + c] = pos == 0 ? (rl == cl ? a[rh * 2 + ch] : 0.0) : (rh == ch ? a[rl * 2 + cl] : 0.0);
            }
    };
    auto mul = [](const cplx* A, const cplx* B, cplx* C) {  // C = A B (4x4)
        for (int r = 0; r < 4; ++r)
            for (int c = 0; c < 4; ++c) {
                cplx s = 0.0;
                for (int t = 0; t < 4; ++t) s += A[r * 4 + t] * B[t * 4 + c];
                C[r * 4 + c] = s;
            }
    };
    std::vector<std::vector<int>> members(m);
    for (int j = 0; j < m; ++j)
        if (owner[j] >= 0) members[owner[j]].push_back(j);
    for (int j = 0; j < m; ++j) {
        if (skip[j] || owner[j] >= 0) continue;
        const int k = static_cast<int>(ops[j].wires.size());
        const int* bits = bits_all + bit_off[j];
        if (!fused[j]) {
            apply_matrix<F>(psi, n, bits, k, diag[j], mats[j].data(), false);
            continue;
        }
        // M = (members after j) G (members before j), each member on its wire's position.
        cplx M[16], G[16], E[16], T[16];
        for (int e = 0; e < 16; ++e) M[e] = (e % 5 == 0) ? 1.0 : 0.0;
        if (diag[j]) {
            for (int e = 0; e < 16; ++e) G[e] = 0.0;
            for (int d = 0; d < 4; ++d) G[d * 5] = mats[j][d];
        } else {
            std::copy(mats[j].begin(), mats[j].begin() + 16, G);
        }
        bool placed = false;
        for (int q : members[j]) {
            if (!placed && q > j) {
                mul(G, M, T);
                std::copy(T, T + 16, M);
                placed = true;
            }
            embed(q, ops[q].wires[0] == ops[j].wires[0] ? 0 : 1, E);
            mul(E, M, T);
            std::copy(T, T + 16, M);
        }
        if (!placed) {
            mul(G, M, T);
            std::copy(T, T + 16, M);
        }
        sv::apply_dense2<F>(psi, n, bits[0], bits[1], M, false);
    }
}

}  // namespace

Trajectories::Trajectories(const Circuit& circuit, const std::vector<Observable>& observables, Precision precision)
    : circuit_(circuit), precision_(precision) {
    PYQML_REQUIRE(circuit_.n_wires() <= 40, "the trajectories method simulates at most 40 wires, got " +
                                                std::to_string(circuit_.n_wires()));
    for (const Observable& o : observables) obs_.push_back(compile_observable(o, circuit_.n_wires()));
    for (const Op& op : circuit_.ops()) {
        if (!op.is_channel()) continue;
        ++n_channels_;
        if (!mixed_unitary(op.channel)) ++n_checkpoints_;
    }
}

double Trajectories::estimated_bytes(int64_t rows, int64_t trajectories, bool gradients) const {
    const int elem = precision_ == Precision::Double ? 16 : 8;
    const int64_t pairs = rows * trajectories;
    const double threads = double(std::max<int64_t>(1, std::min<int64_t>(max_threads(), pairs)));
    const int no = n_observables();
    const double states = gradients ? 1.0 + no + n_checkpoints_ : 1.0;
    const int64_t per_pair = no * (1 + (gradients ? circuit_.n_weights() + circuit_.n_inputs() : 0));
    const int64_t block = std::max<int64_t>(1, std::min<int64_t>(pairs, kBlockDoubles / std::max<int64_t>(1, per_pair)));
    return threads * states * double(int64_t(1) << circuit_.n_wires()) * elem + double(block) * per_pair * 8.0 +
           3.0 * double(rows) * per_pair * 8.0;
}

template <class F>
void Trajectories::run(const Batch& b, int64_t N, uint64_t seed, bool grads, double* mean, double* se, double* dw,
                       double* dx, double* dw_se, double* dx_se) const {
    PYQML_REQUIRE(N >= 1, "trajectories must be at least 1, got " + std::to_string(N));
    PYQML_REQUIRE(b.rows >= 0, "negative batch size");
    const Circuit& c = circuit_;
    const int n = c.n_wires(), no = n_observables(), nw = c.n_weights(), nx = c.n_inputs(), na = c.n_angles();
    const auto& ops = c.ops();
    const size_t size = size_t(1) << n;
    check_memory(estimated_bytes(b.rows, N, grads),
                 "trajectories: state vectors of " + std::to_string(n) + " wires per thread");
    // One pair's results: values (no), then per observable d/dw (nw) and d/dx (nx).
    const int64_t per_pair = no * (1 + (grads ? nw + nx : 0));
    const int64_t pairs = b.rows * N;
    const int64_t block = std::max<int64_t>(1, std::min<int64_t>(pairs, kBlockDoubles / std::max<int64_t>(1, per_pair)));
    std::vector<double> res(size_t(block * per_pair));
    // Per row: sums and sums of squares of every result entry (deviations from the first trajectory's value,
    // for a numerically stable variance).
    std::vector<double> sum(size_t(b.rows * per_pair), 0.0), sq(size_t(b.rows * per_pair), 0.0),
        ref(size_t(b.rows * per_pair), 0.0);
    const int threads = max_threads();
    std::vector<int> bits_all;
    std::vector<int> bit_off(ops.size() + 1, 0);
    for (size_t j = 0; j < ops.size(); ++j) {
        for (int w : ops[j].wires) bits_all.push_back(bit_of_wire(n, w));
        bit_off[j + 1] = static_cast<int>(bits_all.size());
    }
    for (int64_t q0 = 0; q0 < pairs; q0 += block) {
        const int64_t nq = std::min(block, pairs - q0);
        const bool par = threads > 1 && nq > 1;
        const int team = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, nq)));
        std::exception_ptr err;
#pragma omp parallel if (par) num_threads(team)
        {
            std::vector<amp_t<F>> psi, lam;
            std::vector<std::vector<amp_t<F>>> keep;
            std::vector<double> angles(na), dang;
            // Per op of this trajectory: its matrix M (gate U, or K_k / sqrt(q_k)), whether it is diagonal, and
            // for channels the chosen k, q_k, unitarity and the checkpoint index.
            std::vector<std::vector<cplx>> mats(ops.size());
            // ident: the chosen scaled Kraus matrix is the identity (the no-error branch of a Pauli channel),
            // which is not applied at all.
            std::vector<char> diag(ops.size(), 0), unit(ops.size(), 1), ident(ops.size(), 0);
            std::vector<int> chosen(ops.size(), -1), ckpt(ops.size(), -1);
            std::vector<double> qk(ops.size(), 1.0);
            bool ok = true;
            try {
                psi.resize(size);
                if (grads) lam.resize(size_t(no) * size);
            } catch (const std::bad_alloc&) {
                ok = false;
#pragma omp critical(pyqml_traj_error)
                if (!err)
                    err = std::make_exception_ptr(MemoryLimitExceeded("trajectories: allocating the state vectors failed",
                                                                      double(size) * sizeof(amp_t<F>), memory_limit_bytes()));
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t qi = 0; qi < nq; ++qi) {
                if (!ok) continue;
                try {
                    const int64_t q = q0 + qi, r = q / N, t = q % N;
                    if (b.angles) {
                        std::copy(b.angles + r * na, b.angles + (r + 1) * na, angles.begin());
                    } else {
                        const double* w = b.weights_per_row ? b.weights + r * nw : b.weights;
                        c.bind(w, b.inputs ? b.inputs + r * nx : nullptr, angles.data());
                    }
                    Rng rng{mix(mix(mix(seed) ^ uint64_t(r)) ^ uint64_t(t))};
                    std::fill(psi.begin(), psi.end(), amp_t<F>(0));
                    psi[0] = 1;
                    int n_keep = 0;
                    for (size_t j = 0; j < ops.size(); ++j) {
                        const Op& op = ops[j];
                        const int k = static_cast<int>(op.wires.size()), dim = 1 << k;
                        const double* p = angles.data() + c.angle_offset(j);
                        const int* bits = bits_all.data() + bit_off[j];
                        if (op.is_channel()) {
                            const auto kraus = gates::kraus_matrices(op.channel, k, p, op.unitary.data(),
                                                                     op.unitary.size());
                            const int nk = static_cast<int>(kraus.size() / size_t(dim * dim));
                            // q_k = Tr(K_k^dag K_k) / d: state independent, sums to 1 (completeness).
                            const double u = rng.uniform();
                            double acc = 0;
                            int pick = -1;
                            double qpick = 0;
                            for (int kk = 0; kk < nk; ++kk) {
                                double tr = 0;
                                for (int e = 0; e < dim * dim; ++e) tr += std::norm(kraus[size_t(kk) * dim * dim + e]);
                                const double qv = tr / dim;
                                if (qv <= 0) continue;
                                acc += qv;
                                pick = kk;
                                qpick = qv;
                                if (u < acc) break;
                            }
                            PYQML_REQUIRE(pick >= 0, "channel " + std::string(op.name()) +
                                                         " has no nonzero Kraus matrix");
                            std::vector<cplx> m(kraus.begin() + size_t(pick) * dim * dim,
                                                kraus.begin() + size_t(pick + 1) * dim * dim);
                            const double s = 1.0 / std::sqrt(qpick);
                            for (auto& v : m) v *= s;
                            chosen[j] = pick;
                            qk[j] = qpick;
                            diag[j] = 0;
                            unit[j] = is_unitary(m.data(), dim);
                            ident[j] = is_identity(m.data(), dim);
                            ckpt[j] = -1;
                            if (grads && !unit[j]) {
                                if (int(keep.size()) <= n_keep) keep.emplace_back(size);
                                std::copy(psi.begin(), psi.end(), keep[n_keep].begin());
                                ckpt[j] = n_keep++;
                            }
                            mats[j] = std::move(m);
                        } else {
                            auto m = gates::full_matrix(op.gate, k, p, op.unitary.empty() ? nullptr : op.unitary.data());
                            diag[j] = gates::gate_spec(op.gate).diagonal;
                            mats[j] = diag[j] ? diagonal_of(m, dim) : std::move(m);
                        }
                        // With gradients each op is applied as it comes (checkpoints are taken before
                        // non-unitary choices); without, the whole trajectory is fused below.
                        if (grads && !ident[j]) apply_matrix<F>(psi.data(), n, bits, k, diag[j], mats[j].data(), false);
                    }
                    if (!grads) apply_fused<F>(psi.data(), n, ops, mats, diag, ident, bits_all.data(), bit_off);
                    double* out = res.data() + qi * per_pair;
                    for (int o = 0; o < no; ++o) out[o] = sv::expval<F>(psi.data(), n, obs_[o], false);
                    if (!grads) continue;
                    for (int o = 0; o < no; ++o) sv::apply_observable<F>(psi.data(), n, obs_[o], lam.data() + o * size, false);
                    dang.assign(size_t(no) * na, 0.0);
                    // psi now plays phi: un-applied op by op (or restored from its checkpoint).
                    for (size_t j = ops.size(); j-- > 0;) {
                        const Op& op = ops[j];
                        const int k = static_cast<int>(op.wires.size()), dim = 1 << k;
                        const int* bits = bits_all.data() + bit_off[j];
                        const double* p = angles.data() + c.angle_offset(j);
                        const auto madj = adjoint_of(mats[j], dim, diag[j]);
                        if (ckpt[j] >= 0) std::copy(keep[ckpt[j]].begin(), keep[ckpt[j]].end(), psi.begin());
                        else if (!ident[j]) apply_matrix<F>(psi.data(), n, bits, k, diag[j], madj.data(), false);
                        const int np = static_cast<int>(op.params.size());
                        bool trainable = false;
                        for (const ParamRef& pr : op.params) trainable = trainable || pr.kind != ParamRef::Const;
                        if (trainable) {
                            std::vector<std::vector<cplx>> dms(np);
                            for (int pp = 0; pp < np; ++pp) {
                                if (op.params[pp].kind == ParamRef::Const) continue;
                                if (chosen[j] >= 0) {
                                    const auto dk = gates::kraus_dmatrices(op.channel, k, p, pp, op.unitary.data(),
                                                                           op.unitary.size());
                                    dms[pp].assign(dk.begin() + size_t(chosen[j]) * dim * dim,
                                                   dk.begin() + size_t(chosen[j] + 1) * dim * dim);
                                    const double s = 1.0 / std::sqrt(qk[j]);  // q held fixed (header)
                                    for (auto& v : dms[pp]) v *= s;
                                } else {
                                    auto d = gates::full_dmatrix(op.gate, k, p, pp);
                                    dms[pp] = diag[j] ? diagonal_of(d, dim) : std::move(d);
                                }
                            }
                            std::vector<cplx> G(diag[j] ? dim : dim * dim);
                            for (int o = 0; o < no; ++o) {
                                overlap<F>(lam.data() + o * size, psi.data(), n, bits, k, diag[j], G.data(), false);
                                for (int pp = 0; pp < np; ++pp) {
                                    if (dms[pp].empty()) continue;
                                    double re = 0;
                                    for (size_t e = 0; e < G.size(); ++e) re += (dms[pp][e] * G[e]).real();
                                    dang[size_t(o) * na + c.angle_offset(j) + pp] = 2.0 * re;
                                }
                            }
                        }
                        if (!ident[j])
                            for (int o = 0; o < no; ++o)
                                apply_matrix<F>(lam.data() + o * size, n, bits, k, diag[j], madj.data(), false);
                    }
                    for (int o = 0; o < no; ++o) {
                        double* dwo = out + no + o * (nw + nx);
                        std::fill(dwo, dwo + nw + nx, 0.0);
                        if (!b.angles) c.chain(dang.data() + size_t(o) * na, dwo, dwo + nw);
                    }
                } catch (...) {
#pragma omp critical(pyqml_traj_error)
                    if (!err) err = std::current_exception();
                }
            }
        }
        if (err) std::rethrow_exception(err);
        for (int64_t qi = 0; qi < nq; ++qi) {
            const int64_t q = q0 + qi, r = q / N, t = q % N;
            const double* x = res.data() + qi * per_pair;
            double* s = sum.data() + r * per_pair;
            double* s2 = sq.data() + r * per_pair;
            double* rf = ref.data() + r * per_pair;
            if (t == 0) std::copy(x, x + per_pair, rf);
            for (int64_t e = 0; e < per_pair; ++e) {
                const double d = x[e] - rf[e];
                s[e] += d;
                s2[e] += d * d;
            }
        }
    }
    const double inv = 1.0 / double(N);
    auto stat = [&](int64_t r, int64_t e, double& m, double& err) {
        const double s = sum[r * per_pair + e], s2 = sq[r * per_pair + e];
        m = ref[r * per_pair + e] + s * inv;
        err = N > 1 ? std::sqrt(std::max(0.0, (s2 - s * s * inv) / double(N - 1)) * inv) : 0.0;
    };
    for (int64_t r = 0; r < b.rows; ++r)
        for (int o = 0; o < no; ++o) {
            double m, e;
            stat(r, o, m, e);
            mean[r * no + o] = m;
            if (se) se[r * no + o] = e;
            if (!grads) continue;
            for (int i = 0; i < nw + nx; ++i) {
                stat(r, no + o * (nw + nx) + i, m, e);
                if (i < nw) {
                    if (dw) dw[(r * no + o) * nw + i] = m;
                    if (dw_se) dw_se[(r * no + o) * nw + i] = e;
                } else {
                    if (dx) dx[(r * no + o) * nx + i - nw] = m;
                    if (dx_se) dx_se[(r * no + o) * nx + i - nw] = e;
                }
            }
        }
}

void Trajectories::expval(const Batch& b, int64_t N, uint64_t seed, double* mean, double* se) const {
    if (precision_ == Precision::Double) run<double>(b, N, seed, false, mean, se, nullptr, nullptr, nullptr, nullptr);
    else run<float>(b, N, seed, false, mean, se, nullptr, nullptr, nullptr, nullptr);
}

void Trajectories::jacobian(const Batch& b, int64_t N, uint64_t seed, double* mean, double* se, double* dw, double* dx,
                            double* dw_se, double* dx_se) const {
    if (precision_ == Precision::Double) run<double>(b, N, seed, true, mean, se, dw, dx, dw_se, dx_se);
    else run<float>(b, N, seed, true, mean, se, dw, dx, dw_se, dx_se);
}

}  // namespace pyqml::traj
