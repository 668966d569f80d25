// Reverse-mode gradients of MPS expectation values (jacobian, vjp).
//
// The forward pass keeps each block's input sites (the tape). For a loss L = sum_o c_o <O_o> with
// <O> = <psi|O|psi> / <psi|psi>, the cotangents of the final sites are
//   G_i = 2 dL / d conj(A_i) = (2 / N) [ sum_t w_t E_i(P_t) - L E_i(I) ],   w_t = sum_o c_o coeff_(o,t),
// with E_i(P) the environment of site i in <psi|P|psi> (left and right transfer products around site i).
// The blocks then run backwards (blocks.hpp: each recomputed from its inputs, the gate, merges and truncated
// SVDs differentiated), accumulating d L / d angle; Circuit::chain maps those to weights and inputs. This is
// the adjoint method of Jones & Gacon (arXiv:2009.02823) carried by MPS tensors: one forward pass, one
// backward pass per loss, costs a small multiple of the forward pass, and with truncation it is the exact
// derivative of the truncated computation (the kept subspaces move with the parameters).
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

// Without truncation the gradient is the adjoint method on states (Jones & Gacon): with phi_T = P psi_T,
//   d<P>/d theta_t = 2 Re <phi_t| dU_t |psi_(t-1)>,  phi_(t-1) = U_t^dagger phi_t,
// walking the blocks backwards. psi_(t-1) is psi_t with the block's tape inputs put back (exact, no
// recomputation); phi is un-applied block by block (splits without truncation); the mixed environments
// of <phi|psi> are kept per site and only those a block touched are recomputed, so a sweep costs about
// one forward pass. No derivative of an SVD is taken: the result is as well conditioned as the state-vector
// adjoint, whatever the Schmidt spectra.
template <class R>
void unapply_sweep(const std::vector<Block>& blocks, const double* angles, const Options& o, const State<R>& fin,
                   const std::vector<std::vector<Site<R>>>& tape, const std::string& letters, double scale,
                   double* d_angles) {
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
    for (size_t q = blocks.size(); q-- > 0;) {
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
    for_rows<R>(b, row_bytes(true), jac ? "jacobian" : "vjp", [&](int64_t r, const double* angles) {
        State<R> st = product_state<R>(n);
        std::vector<std::vector<Site<R>>> tape(blocks_.size());
        for (size_t q = 0; q < blocks_.size(); ++q) {
            const Block& bl = blocks_[q];
            tape[q].assign(st.s.begin() + bl.lo, st.s.begin() + bl.lo + bl.k);
            run_block(bl, angles, options_, st.s.data() + bl.lo, &st, static_cast<Trace<R>*>(nullptr));
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
        if (!st.truncated) {
            for (int l = 0; l < losses; ++l) {
                std::fill(d_angles.begin(), d_angles.end(), 0.0);
                for (int o = 0; o < no; ++o) {
                    const double co = jac ? (o == l ? 1.0 : 0.0) : cot[r * no + o];
                    if (co == 0.0) continue;
                    for (const auto& t : observables_[size_t(o)].terms)
                        if (t.coeff != 0.0)
                            unapply_sweep(blocks_, angles, options_, st, tape, letters_of(t, n), co * t.coeff / N,
                                          d_angles.data());
                }
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
            for (size_t q = blocks_.size(); q-- > 0;) {
                const Block& bl = blocks_[q];
                std::vector<std::vector<C<R>>> g(size_t(bl.k));
                for (int j = 0; j < bl.k; ++j) g[size_t(j)] = std::move(G[size_t(bl.lo + j)]);
                block_backward(bl, angles, options_, tape[q], g, d_angles.data());
                for (int j = 0; j < bl.k; ++j) G[size_t(bl.lo + j)] = std::move(g[size_t(j)]);
                if (l + 1 == losses) std::vector<Site<R>>().swap(tape[q]);  // freed as the sweep goes
            }
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
