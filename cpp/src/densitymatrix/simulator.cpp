#include "pyqml/densitymatrix/simulator.hpp"

// The density-matrix method: forward passes, measurements and the adjoint (Heisenberg-picture) gradient.
// See the header for the layout and the algorithm.
#include <algorithm>
#include <cmath>
#include <new>
#include <random>
#include <string>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/common/threads.hpp"
#include "pyqml/gates/channel_table.hpp"
#include "pyqml/gates/gate_table.hpp"
#include "pyqml/statevector/apply_gate.hpp"
#include "pyqml/statevector/simulator.hpp"

namespace pyqml::dm {

namespace {

template <class F>
using amp = std::complex<F>;

// Rows run in parallel below this many wires (a density matrix of 4^7 amplitudes is 256 KiB); from
// kAmplitudeParallelMinWires on, the kernels spread one density matrix's amplitudes instead.
constexpr int kRowParallelMaxWires = 7;
constexpr int kAmplitudeParallelMinWires = 9;

int ket_bit(int n, int w) { return 2 * n - 1 - w; }
int bra_bit(int n, int w) { return n - 1 - w; }

// A dense 2^M x 2^M matrix on M bits of a 2^N vector; bits[0] is the matrix index's high bit. The matrix
// size is a compile-time constant and the arithmetic is real (separate real and imaginary parts, nothing
// zero-initialised per group), so the group loop unrolls and nothing is allocated.
template <class F, int M>
void apply_dense_fixed(amp<F>* v, int N, const int* bits, const cplx* mat, bool par) {
    constexpr int dim = 1 << M;
    F mr[dim * dim], mi[dim * dim];
    for (int i = 0; i < dim * dim; ++i) {
        mr[i] = F(mat[i].real());
        mi[i] = F(mat[i].imag());
    }
    int sorted[M];
    std::copy(bits, bits + M, sorted);
    std::sort(sorted, sorted + M);
    index_t offs[dim];
    for (int r = 0; r < dim; ++r) {
        index_t o = 0;
        for (int a = 0; a < M; ++a)
            if (r & (1 << (M - 1 - a))) o |= index_t(1) << bits[a];
        offs[r] = o;
    }
    F* base_ptr = reinterpret_cast<F*>(v);
    sv::for_range(int64_t(1) << (N - M), par, [&](int64_t g) {
        const index_t base = sv::insert_zero_bits(index_t(g), sorted, M);
        F xr[dim], xi[dim];
        for (int r = 0; r < dim; ++r) {
            xr[r] = base_ptr[2 * (base | offs[r])];
            xi[r] = base_ptr[2 * (base | offs[r]) + 1];
        }
        for (int r = 0; r < dim; ++r) {
            F ar = 0, ai = 0;
            for (int c = 0; c < dim; ++c) {
                ar += mr[r * dim + c] * xr[c] - mi[r * dim + c] * xi[c];
                ai += mr[r * dim + c] * xi[c] + mi[r * dim + c] * xr[c];
            }
            base_ptr[2 * (base | offs[r])] = ar;
            base_ptr[2 * (base | offs[r]) + 1] = ai;
        }
    });
}

// A 4x4 on two bits whose matrix keeps the parity of its index (nonzero only between 00 and 11, and between
// 01 and 10: Pauli and damping channels, diagonal gates and their fused runs): two 2x2 blocks, half the
// arithmetic of the dense kernel.
template <class F>
void apply_parity4(amp<F>* v, int N, const int* bits, const cplx* mat, bool par) {
    const amp<F> a00(mat[0]), a03(mat[3]), a30(mat[12]), a33(mat[15]);
    const amp<F> b11(mat[5]), b12(mat[6]), b21(mat[9]), b22(mat[10]);
    const int sorted[2] = {std::min(bits[0], bits[1]), std::max(bits[0], bits[1])};
    const index_t hi = index_t(1) << bits[0], lo = index_t(1) << bits[1];
    sv::for_range(int64_t(1) << (N - 2), par, [&](int64_t g) {
        const index_t base = sv::insert_zero_bits(index_t(g), sorted, 2);
        const amp<F> x0 = v[base], x1 = v[base | lo], x2 = v[base | hi], x3 = v[base | hi | lo];
        v[base] = a00 * x0 + a03 * x3;
        v[base | hi | lo] = a30 * x0 + a33 * x3;
        v[base | lo] = b11 * x1 + b12 * x2;
        v[base | hi] = b21 * x1 + b22 * x2;
    });
}

bool parity_preserving4(const cplx* m) {
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c)
            if (((__builtin_popcount(r) ^ __builtin_popcount(c)) & 1) && m[r * 4 + c] != cplx(0.0)) return false;
    return true;
}

// A dense 2^m x 2^m matrix on m <= 4 bits of a 2^N vector; bits[0] is the matrix index's high bit.
template <class F>
void apply_dense_bits(amp<F>* v, int N, const int* bits, int m, const cplx* mat, bool par) {
    switch (m) {
        case 1: apply_dense_fixed<F, 1>(v, N, bits, mat, par); return;
        case 2:
            if (parity_preserving4(mat)) apply_parity4<F>(v, N, bits, mat, par);
            else apply_dense_fixed<F, 2>(v, N, bits, mat, par);
            return;
        case 3: apply_dense_fixed<F, 3>(v, N, bits, mat, par); return;
        case 4: apply_dense_fixed<F, 4>(v, N, bits, mat, par); return;
        default: throw InvalidInput("density matrix: a superoperator on " + std::to_string(m) + " bits");
    }
}

// L[a][b] += sum over the groups [lo, hi) of conj(s[a, rest]) r[b, rest] on M bits, in double (real
// arithmetic; acc_re, acc_im: dim x dim).
template <class F, int M>
void overlap_fixed(const amp<F>* s, const amp<F>* r, const int* sorted, const index_t* offs, int64_t lo,
                   int64_t hi, double* acc_re, double* acc_im) {
    constexpr int dim = 1 << M;
    const F* sp = reinterpret_cast<const F*>(s);
    const F* rp = reinterpret_cast<const F*>(r);
    for (int64_t g = lo; g < hi; ++g) {
        const index_t base = sv::insert_zero_bits(index_t(g), sorted, M);
        double sr[dim], si[dim], rr[dim], ri[dim];
        for (int a = 0; a < dim; ++a) {
            const index_t i = 2 * (base | offs[a]);
            sr[a] = sp[i];
            si[a] = sp[i + 1];
            rr[a] = rp[i];
            ri[a] = rp[i + 1];
        }
        for (int a = 0; a < dim; ++a)
            for (int b = 0; b < dim; ++b) {
                acc_re[a * dim + b] += sr[a] * rr[b] + si[a] * ri[b];
                acc_im[a * dim + b] += sr[a] * ri[b] - si[a] * rr[b];
            }
    }
}

// L[a][b] = sum over the other bits of conj(s[a, rest]) r[b, rest] on m <= 4 bits (bits[0]: high bit of a, b);
// with `diag_only`, only the diagonal (any m). Summed in double, per thread in thread order.
template <class F>
void local_overlap(const amp<F>* s, const amp<F>* r, int N, const int* bits, int m, bool diag_only, bool par,
                   cplx* L) {
    const int dim = 1 << m;
    int sorted_small[8];
    index_t offs_small[16];
    std::vector<int> sorted_big;
    std::vector<index_t> offs_big;
    int* sorted = sorted_small;
    index_t* offs = offs_small;
    if (m > 4) {
        sorted_big.resize(m);
        offs_big.resize(dim);
        sorted = sorted_big.data();
        offs = offs_big.data();
    }
    std::copy(bits, bits + m, sorted);
    std::sort(sorted, sorted + m);
    for (int a = 0; a < dim; ++a) {
        index_t o = 0;
        for (int j = 0; j < m; ++j)
            if (a & (1 << (m - 1 - j))) o |= index_t(1) << bits[j];
        offs[a] = o;
    }
    const int entries = diag_only ? dim : dim * dim;
    const int64_t groups = int64_t(1) << (N - m);
    // One range of groups into (re, im) accumulators of `entries` each.
    auto range = [&](int64_t lo, int64_t hi, double* re, double* im) {
        if (!diag_only && m == 2) return overlap_fixed<F, 2>(s, r, sorted, offs, lo, hi, re, im);
        if (!diag_only && m == 4) return overlap_fixed<F, 4>(s, r, sorted, offs, lo, hi, re, im);
        for (int64_t g = lo; g < hi; ++g) {
            const index_t base = sv::insert_zero_bits(index_t(g), sorted, m);
            for (int a = 0; a < dim; ++a) {
                const cplx sa = std::conj(cplx(s[base | offs[a]]));
                if (diag_only) {
                    const cplx v = sa * cplx(r[base | offs[a]]);
                    re[a] += v.real();
                    im[a] += v.imag();
                    continue;
                }
                for (int b = 0; b < dim; ++b) {
                    const cplx v = sa * cplx(r[base | offs[b]]);
                    re[a * dim + b] += v.real();
                    im[a * dim + b] += v.imag();
                }
            }
        }
    };
    int threads = 1;
#ifdef PYQML_HAVE_OPENMP
    if (par) threads = max_threads();
#endif
    std::vector<double> part(size_t(threads) * 2 * entries, 0.0);
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
#ifdef PYQML_HAVE_OPENMP
            const int t = omp_get_thread_num();
            const int nt = omp_get_num_threads();
#else
            const int t = 0, nt = 1;
#endif
            double* re = part.data() + size_t(t) * 2 * entries;
            range(groups * t / nt, groups * (t + 1) / nt, re, re + entries);
        }
    } else {
        range(0, groups, part.data(), part.data() + entries);
    }
    for (int e = 0; e < entries; ++e) L[e] = 0.0;
    for (int t = 0; t < threads; ++t)
        for (int e = 0; e < entries; ++e)
            L[e] += cplx(part[size_t(t) * 2 * entries + e], part[size_t(t) * 2 * entries + entries + e]);
}

// Conjugate transpose of a dim x dim matrix, out of place.
void adjoint_into(const cplx* m, int dim, cplx* out) {
    for (int r = 0; r < dim; ++r)
        for (int c = 0; c < dim; ++c) out[size_t(c) * dim + r] = std::conj(m[size_t(r) * dim + c]);
}

std::vector<cplx> adjoint_of(const std::vector<cplx>& m, int dim) {
    std::vector<cplx> out(m.size());
    adjoint_into(m.data(), dim, out.data());
    return out;
}

// c = a b for 4x4 matrices (c may not alias a or b).
void mul4(const cplx* a, const cplx* b, cplx* c) {
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            cplx s = a[i * 4] * b[j];
            for (int k = 1; k < 4; ++k) s += a[i * 4 + k] * b[k * 4 + j];
            c[i * 4 + j] = s;
        }
}

void identity4(cplx* m) {
    for (int i = 0; i < 16; ++i) m[i] = (i % 5 == 0) ? 1.0 : 0.0;
}

// Everything about one op that does not depend on the row.
struct OpInfo {
    bool channel = false;
    bool diagonal = false;
    int k = 0;  // wires
    int angle_off = 0;
    int n_params = 0;
    bool trainable = false;  // some parameter is a weight or an input
    std::vector<bool> param_trainable;
};

// One step of the schedule. The ops of a circuit are grouped into units:
//   Super1  a run of single-wire ops (gates and channels) on one wire with no multi-wire op on that wire in
//           between, fused into one 4x4 superoperator on the wire's (ket, bra) bits: S = S_K ... S_1 with
//           S_j = U (x) conj(U) for a gate and the channel's superoperator for a channel;
//   Gate    one multi-wire gate, U on the ket bits and conj(U) on the bra bits (CNOT: a permutation);
//   Channel one multi-wire channel, its 16x16 superoperator on (ket, bra) bits.
// A fused run moves past ops on other wires only, which commute with it. A gradient w.r.t. a parameter of
// member j of a Super1 is <sigma | Q_j dS_j P_j rho> (P_j, Q_j: the products of the members before and after
// it), read off one 4x4 local overlap of sigma (after the unit) and rho (before it) per unit.
struct Unit {
    enum Kind { Gate, Super1, Channel } kind = Gate;
    std::vector<int> members;  // op indices in application order
    int k = 1;                 // wires
    std::vector<int> ket, bra;  // bit positions in the 2n-bit vector
    std::vector<int> super;     // ket bits then bra bits (superoperator index order)
    bool diagonal = false;      // Gate: diagonal matrix (its diagonal is stored)
    bool cnot = false;          // Gate: CNOT, a swap of amplitudes on the ket and on the bra bits
    bool invertible = true;     // no channel among the members: the unit is undone by its adjoint
    bool trainable = false;     // some member has a weight or input parameter
    bool per_row = false;       // the matrices depend on the row's angles (else computed once per call)
    int blk = 0;                // entries of one stored matrix
    size_t off = 0;             // offset of the unit's matrices in the matrix buffers
    // Stored matrices, blk entries each: Gate: U, conj(U), U^dag, conj(U^dag); Super1 and Channel: S, S^dag.
};

// The compiled structure shared by every row of a call.
struct Plan {
    int n = 0;
    std::vector<OpInfo> ops;
    std::vector<Unit> units;
    std::vector<int> noninvertible;  // unit indices of the units holding a channel
    size_t mat_size = 0;             // entries of a matrix buffer
    std::vector<cplx> fixed;         // matrices of the units that do not depend on the row
};

// The matrix of a single-wire gate (2x2, row-major) at its parameters, written without allocating.
void gate1_matrix(const Op& op, const double* p, cplx* U) {
    if (op.gate == gates::GateId::QubitUnitary) {
        std::copy(op.unitary.begin(), op.unitary.begin() + 4, U);
        return;
    }
    const auto& spec = gates::gate_spec(op.gate);
    if (spec.diagonal) {
        cplx d[2];
        spec.matrix(p, 2, d);
        U[0] = d[0];
        U[1] = U[2] = 0.0;
        U[3] = d[1];
        return;
    }
    spec.matrix(p, 2, U);
}

// d U / d p[q] of a single-wire gate (2x2).
void gate1_dmatrix(const Op& op, const double* p, int q, cplx* dU) {
    const auto& spec = gates::gate_spec(op.gate);
    cplx buf[16];
    const int block = spec.diagonal ? 2 : 4;
    gates::fill_dmatrices(op.gate, p, 2, 1u << q, buf);
    const cplx* d = buf + q * block;
    if (spec.diagonal) {
        dU[0] = d[0];
        dU[1] = dU[2] = 0.0;
        dU[3] = d[1];
    } else {
        std::copy(d, d + 4, dU);
    }
}

// S[(i, j), (k, l)] = A[i][k] conj(B[j][l]) for 2x2 A, B.
void kron_conj2(const cplx* A, const cplx* B, cplx* S) {
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
            for (int k = 0; k < 2; ++k)
                for (int l = 0; l < 2; ++l) S[(i * 2 + j) * 4 + k * 2 + l] = A[i * 2 + k] * std::conj(B[j * 2 + l]);
}

// The 4x4 superoperator of a single-wire op (gate or channel); with dS (n_params x 16), its derivatives
// (a gate: w.r.t. its trainable parameters only, the others left untouched).
void member_superop(const Op& op, const OpInfo& info, const double* p, cplx* S, cplx* dS) {
    if (info.channel) {
        gates::superoperator(op.channel, 1, p, op.unitary.data(), op.unitary.size(), S, dS);
        return;
    }
    cplx U[4];
    gate1_matrix(op, p, U);
    kron_conj2(U, U, S);
    if (!dS) return;
    for (int q = 0; q < info.n_params; ++q) {
        if (!info.param_trainable[q]) continue;
        cplx dU[4], a[16], b[16];
        gate1_dmatrix(op, p, q, dU);
        kron_conj2(dU, U, a);
        kron_conj2(U, dU, b);
        for (int e = 0; e < 16; ++e) dS[q * 16 + e] = a[e] + b[e];
    }
}

// The full matrix of a gate (controls included) at its parameters, or the diagonal of a diagonal gate.
std::vector<cplx> gate_matrix(const Op& op, const double* p, bool diagonal) {
    const int k = static_cast<int>(op.wires.size());
    auto full = gates::full_matrix(op.gate, k, p, op.unitary.empty() ? nullptr : op.unitary.data());
    if (!diagonal) return full;
    const size_t dim = size_t(1) << k;
    std::vector<cplx> d(dim);
    for (size_t i = 0; i < dim; ++i) d[i] = full[i * dim + i];
    return d;
}

std::vector<cplx> channel_superop(const Op& op, const double* p, std::vector<cplx>* dS) {
    const size_t D = size_t(1) << (2 * op.wires.size());
    std::vector<cplx> S(D * D);
    if (dS) dS->assign(D * D * op.params.size(), cplx(0.0));
    gates::superoperator(op.channel, static_cast<int>(op.wires.size()), p, op.unitary.data(), op.unitary.size(),
                         S.data(), dS && !op.params.empty() ? dS->data() : nullptr);
    return S;
}

// Writes a unit's stored matrices (layout in Unit) at the angles of one row.
void unit_matrices(const Circuit& c, const Plan& plan, const Unit& u, const double* angles, cplx* out) {
    const auto& ops = c.ops();
    if (u.kind == Unit::Super1) {
        cplx S[16], Sm[16], T[16];
        identity4(S);
        for (int m : u.members) {
            member_superop(ops[m], plan.ops[m], angles + plan.ops[m].angle_off, Sm, nullptr);
            mul4(Sm, S, T);
            std::copy(T, T + 16, S);
        }
        std::copy(S, S + 16, out);
        adjoint_into(S, 4, out + 16);
        return;
    }
    const Op& op = ops[u.members[0]];
    const double* p = angles + plan.ops[u.members[0]].angle_off;
    if (u.kind == Unit::Channel) {
        const int D = 1 << (2 * u.k);
        gates::superoperator(op.channel, u.k, p, op.unitary.data(), op.unitary.size(), out, nullptr);
        adjoint_into(out, D, out + u.blk);
        return;
    }
    const auto m = gate_matrix(op, p, u.diagonal);
    const int dim = 1 << u.k;
    std::copy(m.begin(), m.end(), out);
    for (int e = 0; e < u.blk; ++e) out[u.blk + e] = std::conj(m[e]);
    if (u.diagonal) {
        for (int e = 0; e < u.blk; ++e) out[2 * u.blk + e] = std::conj(m[e]);
    } else {
        adjoint_into(m.data(), dim, out + 2 * u.blk);
    }
    for (int e = 0; e < u.blk; ++e) out[3 * u.blk + e] = std::conj(out[2 * u.blk + e]);
}

// with_fixed: precompute the matrices of units whose parameters are all constants (not when explicit
// angles replace the constants).
Plan make_plan(const Circuit& c, bool with_fixed) {
    Plan p;
    p.n = c.n_wires();
    const int n = p.n;
    const auto& ops = c.ops();
    std::vector<int> open(n, -1);  // per wire: the Super1 unit still accepting single-wire ops
    for (size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        OpInfo info;
        info.channel = op.is_channel();
        info.k = static_cast<int>(op.wires.size());
        info.diagonal = !info.channel && gates::gate_spec(op.gate).diagonal;
        info.angle_off = c.angle_offset(i);
        info.n_params = static_cast<int>(op.params.size());
        for (const ParamRef& r : op.params) {
            const bool t = r.kind != ParamRef::Const;
            info.param_trainable.push_back(t);
            info.trainable = info.trainable || t;
        }
        p.ops.push_back(info);
        if (info.k == 1) {
            const int w = op.wires[0];
            if (open[w] < 0) {
                Unit u;
                u.kind = Unit::Super1;
                u.k = 1;
                u.ket = {ket_bit(n, w)};
                u.bra = {bra_bit(n, w)};
                u.super = {ket_bit(n, w), bra_bit(n, w)};
                u.blk = 16;
                open[w] = static_cast<int>(p.units.size());
                p.units.push_back(std::move(u));
            }
            Unit& u = p.units[open[w]];
            u.members.push_back(static_cast<int>(i));
            u.invertible = u.invertible && !info.channel;
            u.trainable = u.trainable || info.trainable;
            continue;
        }
        Unit u;
        u.kind = info.channel ? Unit::Channel : Unit::Gate;
        u.members = {static_cast<int>(i)};
        u.k = info.k;
        for (int w : op.wires) {
            u.ket.push_back(ket_bit(n, w));
            u.bra.push_back(bra_bit(n, w));
            open[w] = -1;
        }
        u.super = u.ket;
        u.super.insert(u.super.end(), u.bra.begin(), u.bra.end());
        u.invertible = !info.channel;
        u.trainable = info.trainable;
        if (info.channel) {
            PYQML_REQUIRE(info.k <= 2, "density matrix: channels act on one or two wires");
            u.blk = 1 << (4 * info.k);
        } else {
            u.diagonal = info.diagonal;
            u.cnot = op.gate == gates::GateId::CNOT;
            u.blk = info.diagonal ? (1 << info.k) : (1 << (2 * info.k));
        }
        p.units.push_back(std::move(u));
    }
    for (size_t j = 0; j < p.units.size(); ++j) {
        Unit& u = p.units[j];
        if (!u.invertible) p.noninvertible.push_back(static_cast<int>(j));
        u.off = p.mat_size;
        p.mat_size += size_t(u.kind == Unit::Gate ? 4 : 2) * size_t(u.blk);
        bool constant = with_fixed;
        for (int m : u.members) constant = constant && !p.ops[m].trainable;
        u.per_row = !constant;
    }
    p.fixed.assign(p.mat_size, cplx(0.0));
    std::vector<double> consts;
    for (const Unit& u : p.units) {
        if (u.per_row) continue;
        // The constants of the members laid out as angles.
        consts.assign(size_t(c.n_angles()), 0.0);
        for (int m : u.members)
            for (int q = 0; q < p.ops[m].n_params; ++q) consts[p.ops[m].angle_off + q] = ops[m].params[q].offset;
        unit_matrices(c, p, u, consts.data(), p.fixed.data() + u.off);
    }
    return p;
}

// The matrices of one row: units that depend on the row, into `buf` (plan.mat_size entries).
void bind_units(const Circuit& c, const Plan& plan, const double* angles, cplx* buf) {
    for (const Unit& u : plan.units)
        if (u.per_row) unit_matrices(c, plan, u, angles, buf + u.off);
}

const cplx* unit_mats(const Plan& plan, const Unit& u, const cplx* buf) {
    return (u.per_row ? buf : plan.fixed.data()) + u.off;
}

template <class F>
void apply_on_bits(amp<F>* v, int N, const std::vector<int>& bits, const cplx* m, bool diagonal, bool par) {
    const int k = static_cast<int>(bits.size());
    if (diagonal) {
        sv::apply_diagonal<F>(v, N, bits.data(), k, m, par);
    } else if (k == 1) {
        sv::apply_dense1<F>(v, N, bits[0], m, par);
    } else if (k == 2) {
        sv::apply_dense2<F>(v, N, bits[0], bits[1], m, par);
    } else {
        sv::apply_controlled<F>(v, N, nullptr, 0, bits.data(), k, m, false, par);
    }
}

// One unit on rho (adjoint = false: the unit's map) or its adjoint (rho -> E^dag(rho): U^dag rho U for a
// gate, S^dag on vec rho otherwise; for an invertible unit this undoes it).
template <class F>
void apply_unit(amp<F>* rho, int n, const Unit& u, const cplx* m, bool adjoint, bool par) {
    if (u.kind == Unit::Gate) {
        if (u.cnot) {
            sv::apply_cnot<F>(rho, 2 * n, u.ket[0], u.ket[1], par);
            sv::apply_cnot<F>(rho, 2 * n, u.bra[0], u.bra[1], par);
            return;
        }
        const cplx* a = m + (adjoint ? 2 * u.blk : 0);
        apply_on_bits<F>(rho, 2 * n, u.ket, a, u.diagonal, par);
        apply_on_bits<F>(rho, 2 * n, u.bra, a + u.blk, u.diagonal, par);
        return;
    }
    apply_dense_bits<F>(rho, 2 * n, u.super.data(), 2 * u.k, m + (adjoint ? u.blk : 0), par);
}

// Tr(P rho) summed over the terms of an observable, P|i> = phase s(i) |i ^ x>: Tr(P rho) = sum_i phase
// s(i) rho[i][i ^ x]. Works for any 2^n x 2^n matrix (the real part of the total is returned).
template <class F>
cplx trace_with(const amp<F>* rho, int n, const std::vector<PauliMasks>& terms) {
    const index_t dim = index_t(1) << n;
    cplx total = 0.0;
    for (const PauliMasks& t : terms) {
        cplx s = 0.0;
        for (index_t i = 0; i < dim; ++i) {
            const cplx v(rho[(i << n) | (i ^ t.xmask)]);
            s += (__builtin_popcountll(i & t.zmask) & 1) ? -v : v;
        }
        total += t.phase * s;
    }
    return total;
}

// sigma = O as a matrix: O[i ^ x][i] += phase s(i), scaled.
template <class F>
void add_observable_matrix(amp<F>* sigma, int n, const std::vector<PauliMasks>& terms, double scale) {
    const index_t dim = index_t(1) << n;
    for (const PauliMasks& t : terms)
        for (index_t i = 0; i < dim; ++i) {
            const cplx v = scale * ((__builtin_popcountll(i & t.zmask) & 1) ? -t.phase : t.phase);
            sigma[((i ^ t.xmask) << n) | i] += amp<F>(v);
        }
}

// out = O rho (O on the ket side): (P rho)[a][b] = phase s(a ^ x) rho[a ^ x][b].
template <class F>
void apply_observable_left(const amp<F>* rho, int n, const std::vector<PauliMasks>& terms, amp<F>* out, bool par) {
    const index_t dim = index_t(1) << n;
    std::fill(out, out + dim * dim, amp<F>(0));
    for (const PauliMasks& t : terms) {
        sv::for_range(int64_t(dim), par, [&](int64_t a) {
            const index_t src = index_t(a) ^ t.xmask;
            const amp<F> ph((__builtin_popcountll(src & t.zmask) & 1) ? -t.phase : t.phase);
            for (index_t b = 0; b < dim; ++b) out[(index_t(a) << n) | b] += ph * rho[(src << n) | b];
        });
    }
}

// Runs body(r, angles, workspace, par) for every row, rows across threads (small registers) or
// amplitudes across threads (large ones); errors in the parallel region come out as exceptions.
template <class F, class Body>
void for_rows(const Circuit& c, const Batch& b, int dms_per_row, const std::string& what, Body&& body) {
    const int n = c.n_wires();
    const int64_t rows = b.rows;
    PYQML_REQUIRE(rows >= 0, "negative batch size");
    const int threads = max_threads();
    const bool row_par = rows > 1 && threads > 1 && n <= kRowParallelMaxWires;
    const bool amp_par = !row_par && threads > 1 && n >= kAmplitudeParallelMinWires;
    const int workers = row_par ? static_cast<int>(std::min<int64_t>(threads, rows)) : 1;
    const size_t size = size_t(1) << (2 * n);
    const double need = double(workers) * dms_per_row * double(size) * sizeof(amp<F>);
    check_memory(need, what + ": " + std::to_string(dms_per_row) + " density matri" +
                           (dms_per_row == 1 ? "x" : "ces") + " of " + std::to_string(n) + " wires" +
                           (workers > 1 ? " per thread" : ""));
    std::string error;
    bool failed = false, oom = false;
    auto record = [&](const std::string& e, bool o) {
#pragma omp critical(pyqml_dm_row_error)
        {
            if (!failed) {
                error = e;
                oom = o;
            }
            failed = true;
        }
    };
#pragma omp parallel num_threads(workers) if (row_par)
    {
        std::vector<double> angles;
        std::vector<amp<F>> work;
        try {
            angles.resize(c.n_angles());
            work.resize(size * dms_per_row);
        } catch (const std::bad_alloc&) {
            record("allocating " + std::to_string(dms_per_row) + " density matrices of " + std::to_string(n) +
                       " wires failed (the system refused the memory)", true);
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t r = 0; r < rows; ++r) {
            if (failed) continue;
            try {
                if (b.angles) {
                    std::copy(b.angles + r * c.n_angles(), b.angles + (r + 1) * c.n_angles(), angles.begin());
                    for (double a : angles)
                        PYQML_REQUIRE(std::isfinite(a), "angle is NaN or infinite in row " + std::to_string(r));
                    for (int i : c.channel_ops()) {
                        const Op& op = c.ops()[i];
                        gates::check_channel_params(op.channel, angles.data() + c.angle_offset(i));
                    }
                } else {
                    const double* w = b.weights_per_row ? b.weights + r * c.n_weights() : b.weights;
                    const double* x = b.inputs ? b.inputs + r * c.n_inputs() : nullptr;
                    c.bind(w, x, angles.data());
                }
                body(r, angles.data(), work.data(), amp_par);
            } catch (const std::bad_alloc&) {
                record("row " + std::to_string(r) + ": an allocation failed (the system refused the memory)", true);
            } catch (const std::exception& e) {
                record("row " + std::to_string(r) + ": " + e.what(), false);
            }
        }
    }
    if (failed && oom) throw MemoryLimitExceeded(error, need, memory_limit_bytes());
    if (failed) throw InvalidInput(error);
}

template <class F>
void init_zero(amp<F>* rho, int n) {
    std::fill(rho, rho + (size_t(1) << (2 * n)), amp<F>(0));
    rho[0] = 1;
}


// Applies units [from, to) to rho.
template <class F>
void run_units(const Plan& plan, const cplx* buf, amp<F>* rho, size_t from, size_t to, bool par) {
    for (size_t i = from; i < to; ++i) {
        const Unit& u = plan.units[i];
        apply_unit<F>(rho, plan.n, u, unit_mats(plan, u, buf), false, par);
    }
}

// The forward pass of one row from |0><0|.
template <class F>
void forward(const Circuit& c, const Plan& plan, const double* angles, std::vector<cplx>& buf, amp<F>* rho,
             bool par) {
    buf.resize(plan.mat_size);
    bind_units(c, plan, angles, buf.data());
    init_zero<F>(rho, plan.n);
    run_units<F>(plan, buf.data(), rho, 0, plan.units.size(), par);
}

}  // namespace

Simulator::Simulator(const Circuit& circuit, std::vector<Observable> observables, Precision precision)
    : circuit_(circuit), precision_(precision) {
    const int n = circuit.n_wires();
    PYQML_REQUIRE(n <= kMaxWires, "the density-matrix method handles at most " + std::to_string(kMaxWires) +
                                      " wires (4^n amplitudes), the circuit has " + std::to_string(n) +
                                      " (use method=\"trajectories\" or a smaller register)");
    for (const Observable& o : observables) obs_.push_back(compile_observable(o, n));
}

namespace {
// Checkpoints a gradient keeps: rho before every unit holding a channel when memory allows, else as many as fit (evenly
// spread over the channels); `base` density matrices per row are needed besides them.
int checkpoint_count(int nch, int base, size_t dm_bytes, int workers) {
    if (nch == 0) return 0;
    const double room = memory_limit_bytes() - reserved_bytes() - double(workers) * base * double(dm_bytes);
    const double fit = std::floor(room / (double(workers) * double(dm_bytes)));
    return static_cast<int>(std::max(0.0, std::min<double>(nch, fit)));
}

int workers_for(int n, int64_t rows) {
    const int threads = max_threads();
    return rows > 1 && threads > 1 && n <= kRowParallelMaxWires ? static_cast<int>(std::min<int64_t>(threads, rows)) : 1;
}
}  // namespace

double Simulator::estimate_bytes(const char* what, int64_t rows) const {
    const int n = circuit_.n_wires();
    const size_t dm = (size_t(1) << (2 * n)) * (precision_ == Precision::Double ? 16 : 8);
    const int workers = workers_for(n, rows);
    const std::string w(what);
    int base = 1;
    if (w == "var") base = 2;
    else if (w == "jacobian") base = 1 + std::max(1, n_observables());
    else if (w == "vjp") base = 2;
    double dms = base;
    if (w == "jacobian" || w == "vjp") {
        // Every channel checkpointed when it fits; at least the base.
        dms += std::min<double>(double(circuit_.channel_ops().size()),
                                std::max(0.0, std::floor((memory_limit_bytes() / double(workers) / double(dm)) - base)));
    }
    return double(workers) * dms * double(dm);
}


template <class F>
void Simulator::expval_t(const Batch& b, double* out) const {
    const Plan plan = make_plan(circuit_, b.angles == nullptr);
    const int n = plan.n, no = n_observables();
    for_rows<F>(circuit_, b, 1, "expval", [&](int64_t r, const double* angles, amp<F>* rho, bool par) {
        std::vector<cplx> buf;
        forward<F>(circuit_, plan, angles, buf, rho, par);
        for (int o = 0; o < no; ++o) out[r * no + o] = trace_with<F>(rho, n, obs_[o]).real();
    });
}

template <class F>
void Simulator::var_t(const Batch& b, double* out) const {
    const Plan plan = make_plan(circuit_, b.angles == nullptr);
    const int n = plan.n, no = n_observables();
    const size_t size = size_t(1) << (2 * n);
    for_rows<F>(circuit_, b, 2, "var", [&](int64_t r, const double* angles, amp<F>* rho, bool par) {
        std::vector<cplx> buf;
        forward<F>(circuit_, plan, angles, buf, rho, par);
        amp<F>* orho = rho + size;
        for (int o = 0; o < no; ++o) {
            const double mean = trace_with<F>(rho, n, obs_[o]).real();
            apply_observable_left<F>(rho, n, obs_[o], orho, par);
            const double sq = trace_with<F>(orho, n, obs_[o]).real();
            out[r * no + o] = sq - mean * mean;
        }
    });
}

// The adjoint sweep over the units of the plan. With cot == nullptr: one sigma per observable, d_angles per
// observable (dangles: rows x n_obs x n_angles, or chained into dw / dx: rows x n_obs x n_weights /
// n_inputs). With cot: one sigma = sum_o cot[r, o] O_o, chained into dw (summed over rows unless
// weights_per_row) and dx (per row).
template <class F>
void Simulator::adjoint_t(const Batch& b, const double* cot, double* vals, double* dw, double* dx,
                          double* dangles) const {
    const Plan plan = make_plan(circuit_, b.angles == nullptr);
    const Circuit& c = circuit_;
    const int n = plan.n, no = n_observables();
    const int nsig = cot ? 1 : no;
    const int na = c.n_angles(), nw = c.n_weights(), nx = c.n_inputs();
    const size_t size = size_t(1) << (2 * n);
    const int base = 1 + nsig;
    const int workers = workers_for(n, b.rows);
    const int nch = static_cast<int>(plan.noninvertible.size());
    const int nck = checkpoint_count(nch, base, size * sizeof(amp<F>), workers);
    const size_t nunits = plan.units.size();
    // Which non-invertible units keep the state before them: all, or every stride-th.
    std::vector<int> slot(nunits, -1);
    std::vector<int> stored;  // unit positions with a checkpoint, ascending
    for (int j = 0; j < nck; ++j) {
        const int pos = plan.noninvertible[static_cast<int>((int64_t(j) * nch) / nck)];
        if (slot[pos] < 0) {
            slot[pos] = static_cast<int>(stored.size());
            stored.push_back(pos);
        }
    }
    const int ndm = base + static_cast<int>(stored.size());
    // Shared-weight VJP sums: per row, added in row order afterwards (reproducible across thread counts).
    const bool shared_vjp = cot && !b.weights_per_row;
    std::vector<double> row_dw;
    if (shared_vjp) {
        check_memory(double(b.rows) * nw * sizeof(double), "vjp: per-row weight gradients");
        row_dw.assign(size_t(b.rows) * nw, 0.0);
    }
    for_rows<F>(c, b, ndm, cot ? "vjp" : "jacobian", [&](int64_t r, const double* angles, amp<F>* work, bool par) {
        amp<F>* rho = work;
        amp<F>* sig = work + size;
        amp<F>* ck = work + size * base;
        std::vector<double> da(size_t(nsig) * na, 0.0);
        std::vector<cplx> buf(plan.mat_size);
        bind_units(c, plan, angles, buf.data());
        init_zero<F>(rho, n);
        for (size_t i = 0; i < nunits; ++i) {
            if (slot[i] >= 0) std::copy(rho, rho + size, ck + size * slot[i]);
            run_units<F>(plan, buf.data(), rho, i, i + 1, par);
        }
        for (int o = 0; o < no; ++o) vals[r * no + o] = trace_with<F>(rho, n, obs_[o]).real();
        for (int s = 0; s < nsig; ++s) {
            amp<F>* sg = sig + size * s;
            std::fill(sg, sg + size, amp<F>(0));
            if (cot) {
                for (int o = 0; o < no; ++o)
                    if (cot[r * no + o] != 0.0) add_observable_matrix<F>(sg, n, obs_[o], cot[r * no + o]);
            } else {
                add_observable_matrix<F>(sg, n, obs_[s], 1.0);
            }
        }
        // Scratch of the fused units' gradients: member superoperators, their derivatives, prefix and
        // suffix products.
        std::vector<cplx> L, dS, Sm, dSm, P, Q;
        for (size_t l = nunits; l-- > 0;) {
            const Unit& u = plan.units[l];
            const cplx* m = unit_mats(plan, u, buf.data());
            if (u.kind == Unit::Gate) {
                // rho holds rho_l (after the gate). d/dt: 2 Re <sigma_l | (dU U^dag (x) 1) rho_l>.
                const int op_i = u.members[0];
                const Op& op = c.ops()[op_i];
                const OpInfo& info = plan.ops[op_i];
                const double* p = angles + info.angle_off;
                if (u.trainable) {
                    const int dim = 1 << u.k;
                    const auto full_u = gates::full_matrix(op.gate, u.k, p, op.unitary.empty() ? nullptr : op.unitary.data());
                    const auto ud = adjoint_of(full_u, dim);
                    for (int q = 0; q < info.n_params; ++q) {
                        if (!info.param_trainable[q]) continue;
                        const auto du = gates::full_dmatrix(op.gate, u.k, p, q);
                        std::vector<cplx> A(size_t(dim) * dim, 0.0);
                        for (int i = 0; i < dim; ++i)
                            for (int k2 = 0; k2 < dim; ++k2)
                                for (int j = 0; j < dim; ++j) A[size_t(i) * dim + j] += du[size_t(i) * dim + k2] * ud[size_t(k2) * dim + j];
                        const bool diag_only = u.diagonal;
                        L.resize(size_t(dim) * dim);
                        for (int s = 0; s < nsig; ++s) {
                            local_overlap<F>(sig + size * s, rho, 2 * n, u.ket.data(), u.k, diag_only, par, L.data());
                            cplx acc = 0.0;
                            if (diag_only) {
                                for (int i = 0; i < dim; ++i) acc += A[size_t(i) * dim + i] * L[i];
                            } else {
                                for (int i = 0; i < dim * dim; ++i) acc += A[i] * L[i];
                            }
                            da[size_t(s) * na + info.angle_off + q] += 2.0 * acc.real();
                        }
                    }
                }
                apply_unit<F>(rho, n, u, m, true, par);
                for (int s = 0; s < nsig; ++s) apply_unit<F>(sig + size * s, n, u, m, true, par);
                continue;
            }
            // rho_{l-1}: the unit undone (no channel in it), from its checkpoint, or recomputed from the
            // nearest checkpoint before it.
            if (u.invertible) {
                apply_unit<F>(rho, n, u, m, true, par);
            } else if (slot[l] >= 0) {
                std::copy(ck + size * slot[l], ck + size * (slot[l] + 1), rho);
            } else {
                auto it = std::upper_bound(stored.begin(), stored.end(), static_cast<int>(l));
                size_t from = 0;
                if (it == stored.begin()) {
                    init_zero<F>(rho, n);
                } else {
                    const int pos = *(it - 1);
                    std::copy(ck + size * slot[pos], ck + size * (slot[pos] + 1), rho);
                    from = size_t(pos);
                }
                run_units<F>(plan, buf.data(), rho, from, l, par);
            }
            if (u.trainable && u.kind == Unit::Channel) {
                const int op_i = u.members[0];
                const OpInfo& info = plan.ops[op_i];
                channel_superop(c.ops()[op_i], angles + info.angle_off, &dS);
                const int D = 1 << (2 * u.k);
                L.resize(size_t(D) * D);
                for (int s = 0; s < nsig; ++s) {
                    local_overlap<F>(sig + size * s, rho, 2 * n, u.super.data(), 2 * u.k, false, par, L.data());
                    for (int q = 0; q < info.n_params; ++q) {
                        if (!info.param_trainable[q]) continue;
                        cplx acc = 0.0;
                        const cplx* d = dS.data() + size_t(q) * D * D;
                        for (int i = 0; i < D * D; ++i) acc += d[i] * L[i];
                        da[size_t(s) * na + info.angle_off + q] += acc.real();
                    }
                }
            } else if (u.trainable) {
                // Fused single-wire run: S = S_K ... S_1; d/dt of member j = <sigma | Q_j dS_j P_j rho> =
                // sum_cd dS_j[c][d] (Q_j^T L P_j^T)[c][d] with L the 4x4 local overlap of sigma and rho.
                const int K = static_cast<int>(u.members.size());
                Sm.resize(size_t(K) * 16);
                P.resize(size_t(K) * 16);
                Q.resize(size_t(K) * 16);
                int max_params = 0;
                for (int mi : u.members) max_params = std::max(max_params, plan.ops[mi].n_params);
                dSm.assign(size_t(K) * max_params * 16, cplx(0.0));
                for (int j = 0; j < K; ++j) {
                    const int mi = u.members[j];
                    const OpInfo& info = plan.ops[mi];
                    member_superop(c.ops()[mi], info, angles + info.angle_off, Sm.data() + 16 * j,
                                   info.trainable ? dSm.data() + size_t(j) * max_params * 16 : nullptr);
                }
                identity4(P.data());
                for (int j = 1; j < K; ++j) mul4(Sm.data() + 16 * (j - 1), P.data() + 16 * (j - 1), P.data() + 16 * j);
                identity4(Q.data() + 16 * (K - 1));
                for (int j = K - 1; j-- > 0;) mul4(Q.data() + 16 * (j + 1), Sm.data() + 16 * (j + 1), Q.data() + 16 * j);
                L.resize(16);
                for (int s = 0; s < nsig; ++s) {
                    local_overlap<F>(sig + size * s, rho, 2 * n, u.super.data(), 2, false, par, L.data());
                    for (int j = 0; j < K; ++j) {
                        const int mi = u.members[j];
                        const OpInfo& info = plan.ops[mi];
                        if (!info.trainable) continue;
                        // H = Q^T L P^T: H[c][d] = sum_ab Q[a][c] L[a][b] P[d][b].
                        const cplx* Pj = P.data() + 16 * j;
                        const cplx* Qj = Q.data() + 16 * j;
                        cplx LP[16], H[16];
                        for (int a = 0; a < 4; ++a)
                            for (int d = 0; d < 4; ++d) {
                                cplx acc = 0.0;
                                for (int bb = 0; bb < 4; ++bb) acc += L[a * 4 + bb] * Pj[d * 4 + bb];
                                LP[a * 4 + d] = acc;
                            }
                        for (int cc = 0; cc < 4; ++cc)
                            for (int d = 0; d < 4; ++d) {
                                cplx acc = 0.0;
                                for (int a = 0; a < 4; ++a) acc += Qj[a * 4 + cc] * LP[a * 4 + d];
                                H[cc * 4 + d] = acc;
                            }
                        for (int q = 0; q < info.n_params; ++q) {
                            if (!info.param_trainable[q]) continue;
                            const cplx* d = dSm.data() + (size_t(j) * max_params + q) * 16;
                            cplx acc = 0.0;
                            for (int e = 0; e < 16; ++e) acc += d[e] * H[e];
                            da[size_t(s) * na + info.angle_off + q] += acc.real();
                        }
                    }
                }
            }
            for (int s = 0; s < nsig; ++s) apply_unit<F>(sig + size * s, n, u, m, true, par);
        }
        if (dangles) {
            std::copy(da.begin(), da.end(), dangles + size_t(r) * nsig * na);
            return;
        }
        if (cot) {
            double* w_out = shared_vjp ? row_dw.data() + size_t(r) * nw : (dw ? dw + size_t(r) * nw : nullptr);
            if (w_out) std::fill(w_out, w_out + nw, 0.0);
            double* x_out = dx ? dx + size_t(r) * nx : nullptr;
            if (x_out) std::fill(x_out, x_out + nx, 0.0);
            c.chain(da.data(), w_out, x_out);
            return;
        }
        for (int o = 0; o < no; ++o) {
            double* w_out = dw ? dw + (size_t(r) * no + o) * nw : nullptr;
            double* x_out = dx ? dx + (size_t(r) * no + o) * nx : nullptr;
            if (w_out) std::fill(w_out, w_out + nw, 0.0);
            if (x_out) std::fill(x_out, x_out + nx, 0.0);
            c.chain(da.data() + size_t(o) * na, w_out, x_out);
        }
    });
    if (shared_vjp && dw) {
        std::fill(dw, dw + nw, 0.0);
        for (int64_t r = 0; r < b.rows; ++r)
            for (int k = 0; k < nw; ++k) dw[k] += row_dw[size_t(r) * nw + k];
    }
}

template <class F, class Take>
void Simulator::forward_rows(const Batch& b, Take&& take) const {
    const Plan plan = make_plan(circuit_, b.angles == nullptr);
    for_rows<F>(circuit_, b, 1, "density matrix", [&](int64_t r, const double* angles, amp<F>* rho, bool par) {
        std::vector<cplx> buf;
        forward<F>(circuit_, plan, angles, buf, rho, par);
        take(r, static_cast<const amp<F>*>(rho));
    });
}

void Simulator::expval(const Batch& b, double* out) const {
    if (precision_ == Precision::Double) expval_t<double>(b, out);
    else expval_t<float>(b, out);
}

void Simulator::var(const Batch& b, double* out) const {
    if (precision_ == Precision::Double) var_t<double>(b, out);
    else var_t<float>(b, out);
}

void Simulator::jacobian(const Batch& b, double* vals, double* dw, double* dx) const {
    if (precision_ == Precision::Double) adjoint_t<double>(b, nullptr, vals, dw, dx, nullptr);
    else adjoint_t<float>(b, nullptr, vals, dw, dx, nullptr);
}

void Simulator::vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const {
    if (precision_ == Precision::Double) adjoint_t<double>(b, cot, vals, dw, dx, nullptr);
    else adjoint_t<float>(b, cot, vals, dw, dx, nullptr);
}

void Simulator::angle_jacobian(const Batch& b, double* vals, double* dangles) const {
    if (precision_ == Precision::Double) adjoint_t<double>(b, nullptr, vals, nullptr, nullptr, dangles);
    else adjoint_t<float>(b, nullptr, vals, nullptr, nullptr, dangles);
}

void Simulator::density_matrix(const Batch& b, cplx* out) const {
    const size_t size = size_t(1) << (2 * circuit_.n_wires());
    if (precision_ == Precision::Double)
        forward_rows<double>(b, [&](int64_t r, const amp<double>* rho) { std::copy(rho, rho + size, out + r * size); });
    else
        forward_rows<float>(b, [&](int64_t r, const amp<float>* rho) {
            for (size_t i = 0; i < size; ++i) out[r * size + i] = cplx(rho[i]);
        });
}

namespace {
template <class F>
void marginal_diag(const amp<F>* rho, int n, const std::vector<int>& wires, double* out) {
    const int k = static_cast<int>(wires.size());
    std::fill(out, out + (size_t(1) << k), 0.0);
    const index_t dim = index_t(1) << n;
    for (index_t i = 0; i < dim; ++i) {
        unsigned local = 0;
        for (int a = 0; a < k; ++a) local = (local << 1) | ((i >> bit_of_wire(n, wires[a])) & 1u);
        out[local] += double(rho[(i << n) | i].real());
    }
}
}  // namespace

void Simulator::probs(const Batch& b, const std::vector<int>& wires, double* out) const {
    const int n = circuit_.n_wires();
    for (int w : wires) PYQML_REQUIRE(w >= 0 && w < n, "probs: wire " + std::to_string(w) + " out of range");
    const size_t k = size_t(1) << wires.size();
    if (precision_ == Precision::Double)
        forward_rows<double>(b, [&](int64_t r, const amp<double>* rho) { marginal_diag<double>(rho, n, wires, out + r * k); });
    else
        forward_rows<float>(b, [&](int64_t r, const amp<float>* rho) { marginal_diag<float>(rho, n, wires, out + r * k); });
}

void Simulator::sample(const Batch& b, const std::vector<int>& wires, int64_t shots, uint64_t seed, int8_t* out) const {
    PYQML_REQUIRE(shots >= 1, "shots must be a positive integer, got " + std::to_string(shots));
    const int k = static_cast<int>(wires.size());
    PYQML_REQUIRE(k >= 1 && k <= 30, "sample: between 1 and 30 wires");
    const size_t dim = size_t(1) << k;
    ResultReservation scratch((double(b.rows) + 1.0) * double(dim) * sizeof(double),
                              "sample: probabilities and distribution of " + std::to_string(b.rows) + " row(s) x 2^" +
                                  std::to_string(k));
    std::vector<double> p(size_t(b.rows) * dim);
    probs(b, wires, p.data());
    sv::sample_from_probs(p.data(), b.rows, k, shots, seed, out);  // the state vector's sampler: same seeds
}

}  // namespace pyqml::dm
