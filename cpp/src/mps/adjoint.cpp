// Reverse-mode gradients of MPS expectation values (jacobian, vjp).
//
// The forward pass keeps each block's input sites (the tape) and, within a memory budget, the block's
// record (merged tensors, SVD factors), so the backward pass does not redo the SVDs. For a loss
// L = sum_o c_o <O_o> with <O> = <psi|O|psi> / <psi|psi>, the cotangents of the final sites are
//   G_i = 2 dL / d conj(A_i) = (2 / N) [ sum_t w_t E_i(P_t) - L E_i(I) ],   w_t = sum_o c_o coeff_(o,t),
// with E_i(P) the environment of site i in <psi|P|psi> (left and right transfer products around site i).
// The blocks then run backwards (blocks.hpp: the gate, merges and SVDs differentiated), accumulating
// d L / d angle; Circuit::chain maps those to weights and inputs. This is the adjoint method of Jones &
// Gacon (arXiv:2009.02823) carried by MPS tensors: one forward pass, one backward pass per loss, about 2-3
// forward passes, and with truncation it is the exact derivative of the truncated computation (the kept
// subspaces move with the parameters).
//
// Without truncation the derivative of an SVD is exact only where no singular value that the angles could
// make nonzero was dropped, and accurate only where the kept ones are not tiny (its rounding grows like
// s_max / s_min). The forward pass finds the longest prefix of blocks where both hold (regular_block);
// the blocks after it are differentiated by the adjoint sweep on states (unapply_sweep: no SVD derivative,
// but a bra MPS whose bonds outgrow psi's), which then hands its bra and ket at the prefix's end over to
// reverse mode as cotangents (add_mixed_environment). Shallow brickworks are regular throughout; deep
// ladders, whose last layers have Schmidt values near 1e-8 of the largest, sweep those layers.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "rows.hpp"

namespace pyqml::mps {

using namespace detail;

namespace {

// G_i += scale * E_i(letters) for every site.
template <class R>
void add_environment(const State<R>& st, const std::string& letters, C<R> scale, std::vector<std::vector<C<R>>>& G) {
    const int n = static_cast<int>(st.s.size());
    std::vector<std::vector<C<R>>> L(size_t(n) + 1), Rv(size_t(n) + 1);
    std::vector<C<R>> tmp;
    L[0].assign(1, C<R>(1));
    for (int i = 0; i < n; ++i) {
        const auto& A = st.s[size_t(i)];
        L[size_t(i) + 1].assign(size_t(A.dr) * A.dr, C<R>(0));
        transfer_left(A, L[size_t(i)].data(), pauli_action(letters[size_t(i)]), L[size_t(i) + 1].data(), tmp);
    }
    Rv[size_t(n)].assign(1, C<R>(1));
    for (int i = n - 1; i >= 0; --i) {
        const auto& A = st.s[size_t(i)];
        Rv[size_t(i)].assign(size_t(A.dl) * A.dl, C<R>(0));
        transfer_right(A, Rv[size_t(i) + 1].data(), pauli_action(letters[size_t(i)]), Rv[size_t(i)].data(), tmp);
    }
    for (int i = 0; i < n; ++i) {
        const auto& A = st.s[size_t(i)];
        const auto p = pauli_action(letters[size_t(i)]);
        const int dl = A.dl, dr = A.dr;
        tmp.assign(size_t(dl) * dr, C<R>(0));
        for (int sp = 0; sp < 2; ++sp) {
            const int s = sp ^ p.flip;
            gemm<R>(Tr::N, Tr::N, dl, dr, dl, C<R>(p.ph[sp]) * scale, L[size_t(i)].data(), dl, A.t.data() + size_t(s) * dr,
                    2 * dr, C<R>(0), tmp.data(), dr);
            gemm<R>(Tr::N, Tr::N, dl, dr, dr, C<R>(1), tmp.data(), dr, Rv[size_t(i) + 1].data(), dr, C<R>(1),
                    G[size_t(i)].data() + size_t(sp) * dr, 2 * dr);
        }
    }
}


// Mixed environments of <phi|psi>: left E (phi rows, psi columns), right F (psi rows, phi columns).
template <class R>
void mixed_left(const Site<R>& P, const Site<R>& Q, const C<R>* E, C<R>* out, std::vector<C<R>>& tmp) {
    tmp.assign(size_t(P.dl) * Q.dr, C<R>(0));
    for (int s = 0; s < 2; ++s) {
        gemm<R>(Tr::N, Tr::N, P.dl, Q.dr, Q.dl, C<R>(1), E, Q.dl, Q.t.data() + size_t(s) * Q.dr, 2 * Q.dr, C<R>(0),
                tmp.data(), Q.dr);
        gemm<R>(Tr::H, Tr::N, P.dr, Q.dr, P.dl, C<R>(1), P.t.data() + size_t(s) * P.dr, 2 * P.dr, tmp.data(), Q.dr,
                C<R>(s == 0 ? 0 : 1), out, Q.dr);
    }
}

template <class R>
void mixed_right(const Site<R>& P, const Site<R>& Q, const C<R>* F, C<R>* out, std::vector<C<R>>& tmp) {
    tmp.assign(size_t(Q.dl) * P.dr, C<R>(0));
    for (int s = 0; s < 2; ++s) {
        gemm<R>(Tr::N, Tr::N, Q.dl, P.dr, Q.dr, C<R>(1), Q.t.data() + size_t(s) * Q.dr, 2 * Q.dr, F, P.dr, C<R>(0),
                tmp.data(), P.dr);
        gemm<R>(Tr::N, Tr::H, Q.dl, P.dl, P.dr, C<R>(1), tmp.data(), P.dr, P.t.data() + size_t(s) * P.dr, 2 * P.dr,
                C<R>(s == 0 ? 0 : 1), out, P.dl);
    }
}

// scale x (the environment of site i in <psi|phi>) added to G[i] for every site (G allocated when empty).
template <class R>
void add_mixed_environment(const std::vector<Site<R>>& psi, const std::vector<Site<R>>& phi, C<R> scale,
                           std::vector<std::vector<C<R>>>& G) {
    const int n = static_cast<int>(psi.size());
    if (G.empty()) {
        G.resize(size_t(n));
        for (int i = 0; i < n; ++i) G[size_t(i)].assign(psi[size_t(i)].size(), C<R>(0));
    }
    std::vector<std::vector<C<R>>> L(size_t(n) + 1), Rv(size_t(n) + 1);
    std::vector<C<R>> tmp;
    L[0].assign(1, C<R>(1));
    for (int i = 0; i < n; ++i) {
        L[size_t(i) + 1].assign(size_t(psi[size_t(i)].dr) * phi[size_t(i)].dr, C<R>(0));
        mixed_left(psi[size_t(i)], phi[size_t(i)], L[size_t(i)].data(), L[size_t(i) + 1].data(), tmp);
    }
    Rv[size_t(n)].assign(1, C<R>(1));
    for (int i = n - 1; i >= 0; --i) {
        Rv[size_t(i)].assign(size_t(phi[size_t(i)].dl) * psi[size_t(i)].dl, C<R>(0));
        mixed_right(psi[size_t(i)], phi[size_t(i)], Rv[size_t(i) + 1].data(), Rv[size_t(i)].data(), tmp);
    }
    for (int i = 0; i < n; ++i) {
        const auto &A = psi[size_t(i)], &B = phi[size_t(i)];
        tmp.assign(size_t(A.dl) * B.dr, C<R>(0));
        for (int s = 0; s < 2; ++s) {
            gemm<R>(Tr::N, Tr::N, A.dl, B.dr, B.dl, scale, L[size_t(i)].data(), B.dl, B.t.data() + size_t(s) * B.dr,
                    2 * B.dr, C<R>(0), tmp.data(), B.dr);
            gemm<R>(Tr::N, Tr::N, A.dl, A.dr, B.dr, C<R>(1), tmp.data(), B.dr, Rv[size_t(i) + 1].data(), A.dr, C<R>(1),
                    G[size_t(i)].data() + size_t(s) * A.dr, 2 * A.dr);
        }
    }
}

// Without truncation the gradient is the adjoint method on states (Jones & Gacon): with phi_T = P psi_T,
//   d<P>/d theta_t = 2 Re <phi_t| dU_t |psi_(t-1)>,  phi_(t-1) = U_t^dagger phi_t,
// walking the blocks backwards. psi_(t-1) is psi_t with the block's tape inputs put back (exact, no
// recomputation); phi is un-applied block by block (splits without truncation); the mixed environments
// of <phi|psi> are kept per site and only those a block touched are recomputed. No derivative of an SVD is
// taken: the result is as well conditioned as the state-vector adjoint, whatever the Schmidt spectra. Its
// cost is that of the bra's splits: phi = U^dagger P U psi carries the entanglement of psi and of the
// Heisenberg-evolved P, so its bonds grow as the sweep goes back (4 x those of psi at the start of a
// 4-layer HEA), and those SVDs dominate.
//
// The sweep stops after block `stop` (0: the whole circuit). There psi and phi = U^dagger P U psi are the
// state before that block and its bra partner, and with F(psi) = <psi|U^dagger P U|psi> the cotangents of
// psi's site tensors, 2 scale dF / d conj(A_i) = 2 scale (environment of site i in <psi|phi>), are added to
// G (add_mixed_environment): the blocks before `stop` are then differentiated in reverse mode.
template <class R>
void unapply_sweep(const std::vector<Block>& blocks, const double* angles, const Options& o, const State<R>& fin,
                   const std::vector<std::vector<Site<R>>>& tape, const std::string& letters, double scale,
                   double* d_angles, size_t stop, std::vector<std::vector<C<R>>>* G) {
    const int n = static_cast<int>(fin.s.size());
    std::vector<Site<R>> psi(fin.s), phi(fin.s);
    for (int i = 0; i < n; ++i) {
        const auto p = pauli_action(letters[size_t(i)]);
        if (letters[size_t(i)] == 'I') continue;
        const auto& A = fin.s[size_t(i)];
        auto& B = phi[size_t(i)];
        for (int a = 0; a < A.dl; ++a)
            for (int sp = 0; sp < 2; ++sp)
                for (int b = 0; b < A.dr; ++b)
                    B.t[(size_t(a) * 2 + sp) * A.dr + b] = C<R>(p.ph[sp]) * A.t[(size_t(a) * 2 + (sp ^ p.flip)) * A.dr + b];
    }
    std::vector<std::vector<C<R>>> L(size_t(n) + 1), Rv(size_t(n) + 1);
    std::vector<char> lok(size_t(n) + 1, 0), rok(size_t(n) + 1, 0);
    L[0].assign(1, C<R>(1));
    Rv[size_t(n)].assign(1, C<R>(1));
    lok[0] = rok[size_t(n)] = 1;
    std::vector<C<R>> tmp;
    auto left = [&](int i) {
        int j = i;
        while (!lok[size_t(j)]) --j;
        for (; j < i; ++j) {
            const auto &P = phi[size_t(j)], &Q = psi[size_t(j)];
            L[size_t(j) + 1].assign(size_t(P.dr) * Q.dr, C<R>(0));
            mixed_left(P, Q, L[size_t(j)].data(), L[size_t(j) + 1].data(), tmp);
            lok[size_t(j) + 1] = 1;
        }
    };
    auto right = [&](int i) {
        int j = i;
        while (!rok[size_t(j)]) ++j;
        for (; j > i; --j) {
            const auto &P = phi[size_t(j - 1)], &Q = psi[size_t(j - 1)];
            Rv[size_t(j) - 1].assign(size_t(Q.dl) * P.dl, C<R>(0));
            mixed_right(P, Q, Rv[size_t(j)].data(), Rv[size_t(j) - 1].data(), tmp);
            rok[size_t(j) - 1] = 1;
        }
    };
    std::vector<C<R>> X, Y;
    for (size_t q = blocks.size(); q-- > stop;) {
        const Block& b = blocks[q];
        const int lo = b.lo, hi = b.lo + b.k - 1;
        if (b.has_gate && b.n_params > 0) {
            left(lo);
            right(hi + 1);
            Site<R> Q = tape[q][0], P = phi[size_t(lo)];
            for (int j = 1; j < b.k; ++j) {
                Q = merge(Q, tape[q][size_t(j)]);
                P = merge(P, phi[size_t(lo + j)]);
            }
            const C<R>* El = L[size_t(lo)].data();
            const C<R>* Fr = Rv[size_t(hi) + 1].data();
            for (int p = 0; p < b.n_params; ++p) {
                Site<R> D = Q;
                apply_physical(block_dmatrix(b, angles, p), D);
                // Lenv (P.dl x Q.dl) . D (Q.dl x d Q.dr) -> (P.dl d x Q.dr) . Renv (Q.dr x P.dr)
                std::vector<C<R>> t1(size_t(P.dl) * D.d * D.dr), t2(size_t(P.dl) * D.d * P.dr);
                gemm<R>(Tr::N, Tr::N, P.dl, D.d * D.dr, D.dl, C<R>(1), El, D.dl, D.t.data(), D.d * D.dr, C<R>(0),
                        t1.data(), D.d * D.dr);
                gemm<R>(Tr::N, Tr::N, P.dl * D.d, P.dr, D.dr, C<R>(1), t1.data(), D.dr, Fr, P.dr, C<R>(0), t2.data(),
                        P.dr);
                std::complex<double> acc = 0;
                for (size_t e = 0; e < t2.size(); ++e) acc += std::complex<double>(std::conj(P.t[e]) * t2[e]);
                d_angles[b.angle0 + p] += 2.0 * scale * acc.real();
            }
        }
        if (b.has_gate) {  // phi_(t-1) = U^dagger phi_t
            const auto ud = dagger(block_matrix(b, angles), 1 << b.k);
            if (b.k == 1) {
                apply_physical(ud, phi[size_t(lo)]);
            } else {
                Site<R> T = phi[size_t(lo)];
                for (int j = 1; j < b.k; ++j) T = merge(T, phi[size_t(lo + j)]);
                apply_physical(ud, T);
                for (int j = 0; j + 1 < b.k; ++j) {
                    Svd<R> f;
                    Cut cut;
                    const int half = T.d / 2;
                    split(T.dl * 2, half * T.dr, T.t.data(), true, o, true, f, cut, X, Y);
                    phi[size_t(lo + j)] = make_site<R>(T.dl, 2, cut.kept, std::move(X));
                    T = make_site<R>(cut.kept, half, T.dr, std::move(Y));
                }
                phi[size_t(hi)] = std::move(T);
            }
        }
        for (int j = 0; j < b.k; ++j) psi[size_t(lo + j)] = tape[q][size_t(j)];
        for (int i = lo + 1; i <= n; ++i) lok[size_t(i)] = 0;
        for (int i = 0; i <= hi; ++i) rok[size_t(i)] = 0;
    }
    if (G) add_mixed_environment(psi, phi, C<R>(R(2.0 * scale)), *G);
}

// Operator Schmidt rank of block b's gate across each cut j (positions 0..j | j+1..k-1), for every value of
// its angles: the numerical rank of a fixed matrix, the structural bound of a parametrised gate.
std::vector<int> gate_cut_ranks(const Block& b) {
    std::vector<int> out;
    if (!b.has_gate || b.k < 2) return out;
    const int k = b.k;
    const size_t dim = size_t(1) << k;
    const auto& spec = gates::gate_spec(b.gate);
    std::vector<cplx> g;
    if (b.n_params == 0) g = block_matrix(b, nullptr);
    for (int j = 0; j + 1 < k; ++j) {
        const int a = 1 << (j + 1), c = 1 << (k - 1 - j);
        int rank = std::min(a * a, c * c);
        if (b.n_params > 0) {
            if (k == 2 && (spec.n_controls >= 1 || spec.diagonal || b.gate == gates::GateId::IsingXX ||
                           b.gate == gates::GateId::IsingYY))
                rank = 2;
        } else {  // the rank of G[(x z), (x' z')] reshaped to [(x x'), (z z')]
            std::vector<C<double>> m(size_t(a) * a * c * c);
            for (int x = 0; x < a; ++x)
                for (int xp = 0; xp < a; ++xp)
                    for (int z = 0; z < c; ++z)
                        for (int zp = 0; zp < c; ++zp)
                            m[(size_t(x) * a + xp) * c * c + size_t(z) * c + zp] =
                                g[(size_t(x) * c + z) * dim + size_t(xp) * c + zp];
            Svd<double> f;
            svd(a * a, c * c, m.data(), f);
            rank = 0;
            for (double v : f.s) rank += v > 1e-12 * f.s[0] ? 1 : 0;
        }
        out.push_back(rank);
    }
    return out;
}

// Smallest kept singular value, relative to the largest, for which the derivative of an untruncated split
// is used (its rounding is amplified by about s_max / s_min): the blocks from the first split below it to
// the end of the circuit take the adjoint sweep on states, those before it reverse mode.
template <class R>
constexpr double regular_split_ratio() { return std::is_same_v<R, double> ? 1e-4 : 1e-2; }

// Whether differentiating an untruncated block's SVDs gives the exact derivative of the circuit, well
// conditioned: each split kept every singular value that can be nonzero for some value of the angles
// (its rank reaches min(m, n, gate rank x incoming bond), so no singular value that vanished at these
// angles is lost to the derivative) and none of them is tiny.
template <class R>
bool regular_block(const Block& b, const std::vector<int>& ranks, const std::vector<Site<R>>& in,
                   const Trace<R>& tr) {
    for (size_t j = 0; j < tr.splits.size(); ++j) {
        const auto& s = tr.splits[j];
        double bound = std::min(s.m, s.n);
        if (b.has_gate) {
            const int cut = b.center_right ? int(j) : b.k - 2 - int(j);
            bound = std::min(bound, double(ranks[size_t(cut)]) * in[size_t(cut)].dr);
        }
        const int kept = s.cut.kept;
        if (kept < bound) return false;
        if (double(s.f.s[size_t(kept - 1)]) < regular_split_ratio<R>() * double(s.f.s[0])) return false;
    }
    return true;
}

template <class R>
double trace_bytes(const Trace<R>& tr) {
    size_t e = 0;
    for (const auto& t : tr.T) e += t.t.size();
    for (const auto& s : tr.splits) e += s.M.size() + s.f.u.size() + s.f.vt.size();
    return double(e) * sizeof(C<R>);
}

}  // namespace

template <class R>
void Engine::gradient_t(const Batch& b, const double* cot, double* vals, double* dw, double* dx, double* info) const {
    const int n = n_wires(), no = n_observables();
    const Circuit& c = circuit_;
    const int nw = c.n_weights(), nx = c.n_inputs(), na = c.n_angles();
    const bool jac = cot == nullptr;
    const bool shared = !b.weights_per_row;
    std::vector<double> dw_rows;  // vjp with shared weights: per-row sums added in row order afterwards
    if (!jac && shared) dw_rows.assign(size_t(b.rows) * nw, 0.0);
    std::vector<std::vector<int>> ranks(blocks_.size());
    for (size_t q = 0; q < blocks_.size(); ++q) ranks[q] = gate_cut_ranks(blocks_[q]);
    // The blocks' records (merged tensors, SVD factors) are kept from the forward pass while they fit
    // this share of the memory limit; blocks past it are recomputed in the backward pass.
    const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads(), b.rows)));
    const double record_budget =
        std::max(0.0, 0.5 * (memory_limit_bytes() - reserved_bytes()) / workers - row_bytes(true));
    for_rows<R>(b, row_bytes(true), jac ? "jacobian" : "vjp", [&](int64_t r, const double* angles) {
        State<R> st = product_state<R>(n);
        std::vector<std::vector<Site<R>>> tape(blocks_.size());
        std::vector<Trace<R>> rec(blocks_.size());
        std::vector<char> have(blocks_.size(), 0);
        double kept_bytes = 0;
        size_t prefix = 0;  // blocks 0 .. prefix - 1 are regular (regular_block)
        for (size_t q = 0; q < blocks_.size(); ++q) {
            const Block& bl = blocks_[q];
            tape[q].assign(st.s.begin() + bl.lo, st.s.begin() + bl.lo + bl.k);
            if (bl.k == 1) {
                run_block(bl, angles, options_, st.s.data() + bl.lo, &st, static_cast<Trace<R>*>(nullptr));
                if (prefix == q) prefix = q + 1;
                continue;
            }
            Trace<R> tr;
            run_block(bl, angles, options_, st.s.data() + bl.lo, &st, &tr);
            if (prefix == q && regular_block(bl, ranks[q], tape[q], tr)) prefix = q + 1;
            const double bytes = trace_bytes(tr);
            if ((prefix > q || st.truncated) && kept_bytes + bytes <= record_budget) {
                rec[q] = std::move(tr);
                have[q] = 1;
                kept_bytes += bytes;
            }
        }
        st.info(info + r * kInfoFields);
        const double N = norm2(st);
        std::vector<std::vector<double>> term_vals(static_cast<size_t>(no));
        for (int o = 0; o < no; ++o) {
            double v = 0;
            for (const auto& t : observables_[size_t(o)].terms) {
                const double tv = pauli_value(st, letters_of(t, n)).real();
                term_vals[size_t(o)].push_back(tv);
                v += t.coeff * tv;
            }
            vals[r * no + o] = v / N;
        }
        const int losses = jac ? no : 1;
        std::vector<double> d_angles(static_cast<size_t>(na));
        // Reverse mode through blocks from - 1 .. 0, G the cotangents of the sites after block from - 1.
        auto reverse = [&](size_t from, std::vector<std::vector<C<R>>>& G, bool last) {
            for (size_t q = from; q-- > 0;) {
                const Block& bl = blocks_[q];
                std::vector<std::vector<C<R>>> g(size_t(bl.k));
                for (int j = 0; j < bl.k; ++j) g[size_t(j)] = std::move(G[size_t(bl.lo + j)]);
                if (have[q] || bl.k == 1) block_backward(bl, angles, tape[q], rec[q], g, d_angles.data());
                else block_backward(bl, angles, options_, tape[q], g, d_angles.data());
                for (int j = 0; j < bl.k; ++j) G[size_t(bl.lo + j)] = std::move(g[size_t(j)]);
                if (last) {  // freed as the sweep goes
                    std::vector<Site<R>>().swap(tape[q]);
                    rec[q] = Trace<R>();
                }
            }
        };
        if (!st.truncated) {
            // The adjoint sweep on states through the blocks after the regular prefix, reverse mode through
            // the prefix (its SVDs well conditioned): exact either way, and the prefix costs no bra MPS,
            // whose bonds grow as the sweep goes back (those of U^dagger P U psi).
            for (int l = 0; l < losses; ++l) {
                std::fill(d_angles.begin(), d_angles.end(), 0.0);
                std::vector<std::vector<C<R>>> G;
                for (int o = 0; o < no; ++o) {
                    const double co = jac ? (o == l ? 1.0 : 0.0) : cot[r * no + o];
                    if (co == 0.0) continue;
                    for (const auto& t : observables_[size_t(o)].terms)
                        if (t.coeff != 0.0)
                            unapply_sweep(blocks_, angles, options_, st, tape, letters_of(t, n), co * t.coeff / N,
                                          d_angles.data(), prefix, prefix > 0 ? &G : nullptr);
                }
                if (!G.empty()) reverse(prefix, G, l + 1 == losses);
                double* pw = jac ? dw + (r * no + l) * nw : (shared ? dw_rows.data() + r * nw : dw + r * nw);
                double* px = jac ? dx + (r * no + l) * nx : dx + r * nx;
                std::fill(pw, pw + nw, 0.0);
                std::fill(px, px + nx, 0.0);
                c.chain(d_angles.data(), pw, px);
            }
            return;
        }
        for (int l = 0; l < losses; ++l) {
            std::vector<double> cvec(size_t(no), 0.0);
            if (jac) cvec[size_t(l)] = 1.0;
            else
                for (int o = 0; o < no; ++o) cvec[size_t(o)] = cot[r * no + o];
            double loss = 0;
            for (int o = 0; o < no; ++o) loss += cvec[size_t(o)] * vals[r * no + o];
            std::vector<std::vector<C<R>>> G(static_cast<size_t>(n));
            for (int i = 0; i < n; ++i) G[size_t(i)].assign(st.s[size_t(i)].size(), C<R>(0));
            for (int o = 0; o < no; ++o) {
                if (cvec[size_t(o)] == 0.0) continue;
                for (const auto& t : observables_[size_t(o)].terms)
                    add_environment(st, letters_of(t, n), C<R>(R(2.0 * cvec[size_t(o)] * t.coeff / N)), G);
            }
            if (loss != 0.0) add_environment(st, std::string(size_t(n), 'I'), C<R>(R(-2.0 * loss / N)), G);
            std::fill(d_angles.begin(), d_angles.end(), 0.0);
            reverse(blocks_.size(), G, l + 1 == losses);
            if (jac) {
                double* pw = dw + (r * no + l) * nw;
                double* px = dx + (r * no + l) * nx;
                std::fill(pw, pw + nw, 0.0);
                std::fill(px, px + nx, 0.0);
                c.chain(d_angles.data(), pw, b.angles ? nullptr : px);
            } else {
                double* pw = shared ? dw_rows.data() + r * nw : dw + r * nw;
                double* px = dx + r * nx;
                std::fill(pw, pw + nw, 0.0);
                std::fill(px, px + nx, 0.0);
                c.chain(d_angles.data(), pw, px);
            }
        }
    });
    if (!jac && shared) {
        std::fill(dw, dw + nw, 0.0);
        for (int64_t r = 0; r < b.rows; ++r)
            for (int k = 0; k < nw; ++k) dw[k] += dw_rows[size_t(r) * nw + k];
    }
}

void Engine::jacobian(const Batch& b, double* vals, double* dw, double* dx, double* info) const {
    if (precision_ == Precision::Double) gradient_t<double>(b, nullptr, vals, dw, dx, info);
    else gradient_t<float>(b, nullptr, vals, dw, dx, info);
}

void Engine::vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx, double* info) const {
    PYQML_REQUIRE(cot != nullptr, "vjp needs a cotangent");
    if (precision_ == Precision::Double) gradient_t<double>(b, cot, vals, dw, dx, info);
    else gradient_t<float>(b, cot, vals, dw, dx, info);
}

}  // namespace pyqml::mps
