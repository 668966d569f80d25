#pragma once
// The forward pass of the calls that need no gradient (expval, probs, samples, amplitudes, overlaps,
// entropies): the same program of blocks as blocks.hpp's run_block, the same truncation at the same cuts in
// the same canonical gauge, computed with less work:
//   - runs of one-wire gates on a site are multiplied into one 2 x 2 matrix and applied when a multi-site
//     block next touches the site (or at the end): a unitary on a site keeps it an isometry, so deferring it
//     past centre moves leaves every cut's Schmidt spectrum unchanged;
//   - centre moves are QR / LQ factorisations (a move truncates nothing), not SVDs;
//   - a split that cannot truncate (no cutoff and min(m, n) <= max_bond) is a QR with column pivoting,
//     which still finds the Schmidt rank (rows of R below the rounding floor are dropped), not an SVD;
//   - a two-site gate whose operator Schmidt rank rho makes rho * D (D: the bond between the two sites)
//     smaller than the merged matrix (2 dl x 2 dr) is applied in reduced form: the gate's factors are put on
//     each site (A' = sum_k G1_k A, B' = sum_k G2_k B, inner bond rho D), A' = Q_A R_A, B' = L_B Q_B, and
//     only the rho D x rho D core R_A L_B is decomposed (Q_A, Q_B are isometries, so the core's singular
//     values are the cut's Schmidt coefficients);
//   - LAPACK is called in column-major order on the row-major buffers (the SVD of M^T is read as that of M:
//     no transposed copies) with workspaces kept for the whole row.
// The gradient (adjoint.cpp) keeps run_block, whose SVD records its backward pass re-uses.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "blocks.hpp"

namespace pyqml::mps::detail {

// One step of the forward program (compiled once per call from the blocks).
struct Step {
    enum Kind { Local, Move, Gate } kind = Local;
    int lo = 0, k = 1;
    bool right = true;          // Move: centre from lo to lo + 1 (else lo + 1 to lo); Gate: centre ends at hi
    std::vector<int> locals;    // Local: blocks multiplied onto site lo, in order
    int block = -1;             // Gate: the block
    int rank = 4;               // Gate (k = 2): operator Schmidt rank bound across its cut
};

struct Plan {
    std::vector<Step> steps;
    int center = 0;  // the orthogonality centre after the last step
};

inline Plan make_plan(const std::vector<Block>& blocks, int n) {
    Plan p;
    std::vector<std::vector<int>> pending(size_t(std::max(n, 1)));
    auto flush = [&](int site) {
        auto& q = pending[size_t(site)];
        if (q.empty()) return;
        Step s;
        s.kind = Step::Local;
        s.lo = site;
        s.locals = std::move(q);
        q.clear();
        p.steps.push_back(std::move(s));
    };
    int center = 0;
    for (size_t i = 0; i < blocks.size(); ++i) {
        const Block& b = blocks[i];
        if (b.k == 1) {
            pending[size_t(b.lo)].push_back(int(i));
            continue;
        }
        Step s;
        s.lo = b.lo;
        s.k = b.k;
        s.right = b.center_right;
        if (!b.has_gate) {
            s.kind = Step::Move;
            center = b.center_right ? b.lo + 1 : b.lo;
            p.steps.push_back(s);
            continue;
        }
        for (int j = 0; j < b.k; ++j) flush(b.lo + j);
        s.kind = Step::Gate;
        s.block = int(i);
        using gates::GateId;
        const auto& g = gates::gate_spec(b.gate);
        s.rank = (b.gate_wires == 2 && (g.n_controls >= 1 || g.diagonal || b.gate == GateId::IsingXX ||
                                        b.gate == GateId::IsingYY))
                     ? 2
                     : 4;
        center = b.center_right ? b.lo + b.k - 1 : b.lo;
        p.steps.push_back(std::move(s));
    }
    for (int site = 0; site < n; ++site) flush(site);
    p.center = center;
    return p;
}

// LAPACK in column-major order with caller-owned workspaces.
template <class R>
struct Lapack {
    std::vector<C<R>> work;
    std::vector<R> rwork;
    std::vector<int> iwork;
    std::unordered_map<uint64_t, int> lwork;  // (routine, m, n) -> optimal lwork

    static uint64_t key(int routine, int m, int n) { return (uint64_t(routine) << 56) | (uint64_t(m) << 28) | uint64_t(n); }

    // a (m x n, column-major, lda = m) = U S V^H; u: m x r (ldu = m), vt: r x n (ldvt = r); a destroyed.
    int gesdd(int m, int n, C<R>* a, R* s, C<R>* u, C<R>* vt) {
        const int r = std::min(m, n), mx = std::max(m, n);
        rwork.resize(size_t(std::max(1, r * std::max(5 * r + 7, 2 * mx + 2 * r + 1))));
        iwork.resize(size_t(std::max(1, 8 * r)));
        int& lw = lwork[key(0, m, n)];
        if (lw == 0) {
            C<R> q;
            call_gesdd(m, n, a, s, u, vt, &q, -1);
            lw = std::max(1, int(std::real(q)) + 1);
        }
        if (int(work.size()) < lw) work.resize(size_t(lw));
        return call_gesdd(m, n, a, s, u, vt, work.data(), lw);
    }
    int call_gesdd(int m, int n, C<R>* a, R* s, C<R>* u, C<R>* vt, C<R>* w, int lw) {
        const int r = std::min(m, n);
        if constexpr (std::is_same_v<R, double>)
            return scipy_LAPACKE_zgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, a, m, s, u, m, vt, r, w, lw, rwork.data(),
                                             iwork.data());
        else
            return scipy_LAPACKE_cgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, a, m, s, u, m, vt, r, w, lw, rwork.data(),
                                             iwork.data());
    }
    // The QR-iteration driver, for the rare matrix where divide and conquer does not converge.
    int gesvd(int m, int n, C<R>* a, R* s, C<R>* u, C<R>* vt) {
        const int r = std::min(m, n);
        rwork.resize(size_t(std::max(1, 5 * r)));
        C<R> q;
        int info;
        if constexpr (std::is_same_v<R, double>)
            info = scipy_LAPACKE_zgesvd_work(LAPACK_COL_MAJOR, 'S', 'S', m, n, a, m, s, u, m, vt, r, &q, -1, rwork.data());
        else
            info = scipy_LAPACKE_cgesvd_work(LAPACK_COL_MAJOR, 'S', 'S', m, n, a, m, s, u, m, vt, r, &q, -1, rwork.data());
        if (info != 0) return info;
        const int lw = std::max(1, int(std::real(q)) + 1);
        if (int(work.size()) < lw) work.resize(size_t(lw));
        if constexpr (std::is_same_v<R, double>)
            return scipy_LAPACKE_zgesvd_work(LAPACK_COL_MAJOR, 'S', 'S', m, n, a, m, s, u, m, vt, r, work.data(), lw,
                                             rwork.data());
        else
            return scipy_LAPACKE_cgesvd_work(LAPACK_COL_MAJOR, 'S', 'S', m, n, a, m, s, u, m, vt, r, work.data(), lw,
                                             rwork.data());
    }
    // QR (geqrf + ungqr) of a column-major m x n matrix (lda = m), r = min(m, n): the Householder factors in
    // a, then Q (m x r) in a's first r columns. R must be read out between the two calls.
    int geqrf(int m, int n, C<R>* a, C<R>* tau) {
        int& lw = lwork[key(1, m, n)];
        if (lw == 0) {
            C<R> q;
            int info;
            if constexpr (std::is_same_v<R, double>) info = scipy_LAPACKE_zgeqrf_work(LAPACK_COL_MAJOR, m, n, a, m, tau, &q, -1);
            else info = scipy_LAPACKE_cgeqrf_work(LAPACK_COL_MAJOR, m, n, a, m, tau, &q, -1);
            if (info != 0) return info;
            lw = std::max(1, int(std::real(q)) + 1);
        }
        if (int(work.size()) < lw) work.resize(size_t(lw));
        if constexpr (std::is_same_v<R, double>) return scipy_LAPACKE_zgeqrf_work(LAPACK_COL_MAJOR, m, n, a, m, tau, work.data(), lw);
        else return scipy_LAPACKE_cgeqrf_work(LAPACK_COL_MAJOR, m, n, a, m, tau, work.data(), lw);
    }
    // QR with column pivoting of a column-major m x n matrix (lda = m): a P = Q R, jpvt 1-based.
    int geqp3(int m, int n, C<R>* a, int* jpvt, C<R>* tau) {
        rwork.resize(size_t(std::max(1, 2 * n)));
        std::fill(jpvt, jpvt + n, 0);
        int& lw = lwork[key(3, m, n)];
        if (lw == 0) {
            C<R> q;
            int info;
            if constexpr (std::is_same_v<R, double>)
                info = scipy_LAPACKE_zgeqp3_work(LAPACK_COL_MAJOR, m, n, a, m, jpvt, tau, &q, -1, rwork.data());
            else
                info = scipy_LAPACKE_cgeqp3_work(LAPACK_COL_MAJOR, m, n, a, m, jpvt, tau, &q, -1, rwork.data());
            if (info != 0) return info;
            lw = std::max(1, int(std::real(q)) + 1);
        }
        if (int(work.size()) < lw) work.resize(size_t(lw));
        if constexpr (std::is_same_v<R, double>)
            return scipy_LAPACKE_zgeqp3_work(LAPACK_COL_MAJOR, m, n, a, m, jpvt, tau, work.data(), lw, rwork.data());
        else
            return scipy_LAPACKE_cgeqp3_work(LAPACK_COL_MAJOR, m, n, a, m, jpvt, tau, work.data(), lw, rwork.data());
    }
    int ungqr(int m, int r, C<R>* a, const C<R>* tau) {
        int& lw = lwork[key(2, m, r)];
        if (lw == 0) {
            C<R> q;
            int info;
            if constexpr (std::is_same_v<R, double>) info = scipy_LAPACKE_zungqr_work(LAPACK_COL_MAJOR, m, r, r, a, m, tau, &q, -1);
            else info = scipy_LAPACKE_cungqr_work(LAPACK_COL_MAJOR, m, r, r, a, m, tau, &q, -1);
            if (info != 0) return info;
            lw = std::max(1, int(std::real(q)) + 1);
        }
        if (int(work.size()) < lw) work.resize(size_t(lw));
        if constexpr (std::is_same_v<R, double>) return scipy_LAPACKE_zungqr_work(LAPACK_COL_MAJOR, m, r, r, a, m, tau, work.data(), lw);
        else return scipy_LAPACKE_cungqr_work(LAPACK_COL_MAJOR, m, r, r, a, m, tau, work.data(), lw);
    }
};

template <class R>
struct Workspace {
    Lapack<R> lapack;
    std::vector<C<R>> a, t1, t2, t3, u, vt, tau;
    std::vector<R> s;
    std::vector<int> jpvt;
};

inline void check_info(int info, const char* what, int m, int n) {
    if (info != 0)
        throw InvalidInput(std::string("mps: the ") + what + " of a " + std::to_string(m) + " x " + std::to_string(n) +
                           " bond matrix failed (LAPACK info " + std::to_string(info) + ")");
}

// SVD of the row-major m x n matrix M: w.u holds U (m x r, row-major), w.vt holds V^H (r x n,
// row-major), w.s the r singular values, descending. Row-major M is column-major M^T = U' S V'^H, and
// U = (V'^H)^T, V^H = U'^T read as row-major are those buffers as LAPACK wrote them.
template <class R>
void svd_rows(int m, int n, const C<R>* M, Workspace<R>& w) {
    const int r = std::min(m, n);
    w.s.resize(size_t(r));
    w.u.resize(size_t(m) * r);
    w.vt.resize(size_t(r) * n);
    w.a.assign(M, M + size_t(m) * n);
    int info = w.lapack.gesdd(n, m, w.a.data(), w.s.data(), w.vt.data(), w.u.data());
    if (info > 0) {  // divide and conquer did not converge: the QR-iteration driver
        w.a.assign(M, M + size_t(m) * n);
        info = w.lapack.gesvd(n, m, w.a.data(), w.s.data(), w.vt.data(), w.u.data());
    }
    check_info(info, "SVD", m, n);
}

// Row-major QR of M (m x n, destroyed): M = Q R, Q (m x r) written to q, R (r x n) to rr; r = min(m, n).
// Row-major M is column-major M^T (n x m); its QR is not M's. So M is transposed once into column-major.
template <class R>
int qr_rows(int m, int n, const C<R>* M, std::vector<C<R>>& q, std::vector<C<R>>& rr, Workspace<R>& w) {
    const int r = std::min(m, n);
    auto& a = w.t3;
    a.resize(size_t(m) * n);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) a[size_t(j) * m + i] = M[size_t(i) * n + j];
    w.tau.resize(size_t(std::max(1, r)));
    check_info(w.lapack.geqrf(m, n, a.data(), w.tau.data()), "QR", m, n);
    rr.assign(size_t(r) * n, C<R>(0));
    for (int j = 0; j < n; ++j)
        for (int i = 0; i <= std::min(j, r - 1); ++i) rr[size_t(i) * n + j] = a[size_t(j) * m + i];
    check_info(w.lapack.ungqr(m, r, a.data(), w.tau.data()), "QR", m, n);
    q.resize(size_t(m) * r);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < r; ++j) q[size_t(i) * r + j] = a[size_t(j) * m + i];
    return r;
}

// Row-major LQ of M (m x n): M = L Q, L (m x r) to l, Q (r x n, orthonormal rows) to q. Row-major M is
// column-major M^T (n x m) = Q' R' with Q' (n x r): Q = Q'^T is Q' read row-major, L = R'^T likewise.
template <class R>
int lq_rows(int m, int n, const C<R>* M, std::vector<C<R>>& l, std::vector<C<R>>& q, Workspace<R>& w) {
    const int r = std::min(m, n);
    q.assign(M, M + size_t(m) * n);  // column-major n x m, lda = n
    w.tau.resize(size_t(std::max(1, r)));
    check_info(w.lapack.geqrf(n, m, q.data(), w.tau.data()), "LQ", m, n);
    l.assign(size_t(m) * r, C<R>(0));
    for (int a = 0; a < m; ++a)  // R' (r x m, column-major in q, lda n): L[a][j] = R'(j, a), j <= a
        for (int j = 0; j <= std::min(a, r - 1); ++j) l[size_t(a) * r + j] = q[size_t(a) * n + j];
    check_info(w.lapack.ungqr(n, r, q.data(), w.tau.data()), "LQ", m, n);
    q.resize(size_t(r) * n);  // Q' (n x r) column-major = Q (r x n) row-major, contiguous
    return r;
}

// A split that cannot truncate (no cutoff, min(m, n) <= max_bond) needs no singular values: a QR with
// column pivoting, M P = Q R with |R_00| >= |R_11| >= ..., keeps the rows of R above the rounding floor
// (every dropped column of the trailing block has norm <= |R_rr|, so the dropped part is below
// sqrt(n) * floor * |R_00|, the SVD's own floor up to that factor). Centre right: X = Q_r (left isometry),
// Y = R_r P^T. Centre left: the same on M^H (whose column-major memory is conj(M)'s row-major memory),
// X = P R_r^H, Y = Q_r^H (right isometry).
template <class R>
Cut split_qr(int m, int n, const C<R>* M, bool right, std::vector<C<R>>& X, std::vector<C<R>>& Y, Workspace<R>& w) {
    const int rows = right ? m : n, cols = right ? n : m;  // of the column-major matrix factorised
    auto& a = w.t3;
    a.resize(size_t(m) * n);
    double total = 0;
    if (right) {
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) a[size_t(j) * m + i] = M[size_t(i) * n + j];
    } else {
        for (size_t e = 0; e < size_t(m) * n; ++e) a[e] = std::conj(M[e]);
    }
    for (const auto& v : a) total += double(std::norm(v));
    const int mn = std::min(rows, cols);
    w.tau.resize(size_t(std::max(1, mn)));
    w.jpvt.resize(size_t(std::max(1, cols)));
    check_info(w.lapack.geqp3(rows, cols, a.data(), w.jpvt.data(), w.tau.data()), "QR", m, n);
    Cut cut;
    int r = 0;
    const double floor = zero_threshold<R>() * std::abs(a[0]);
    while (r < mn && std::abs(a[size_t(r) * rows + r]) > floor) ++r;
    r = std::max(r, 1);
    double disc = 0;
    for (int j = r; j < cols; ++j)
        for (int i = r; i <= std::min(j, mn - 1); ++i) disc += double(std::norm(a[size_t(j) * rows + i]));
    cut.kept = r;
    cut.eps = total > 0 ? disc / total : 0.0;
    cut.truncated = false;
    // R rows 0..r-1 (upper triangle, column j of a at position j * rows) -> the non-isometric factor
    if (right) {
        Y.assign(size_t(r) * n, C<R>(0));
        for (int j = 0; j < n; ++j) {
            const int c = w.jpvt[size_t(j)] - 1;
            for (int i = 0; i <= std::min(j, r - 1); ++i) Y[size_t(i) * n + c] = a[size_t(j) * rows + i];
        }
    } else {
        X.assign(size_t(m) * r, C<R>(0));
        for (int p = 0; p < m; ++p) {
            const int row = w.jpvt[size_t(p)] - 1;
            for (int k = 0; k <= std::min(p, r - 1); ++k) X[size_t(row) * r + k] = std::conj(a[size_t(p) * rows + k]);
        }
    }
    check_info(w.lapack.ungqr(rows, r, a.data(), w.tau.data()), "QR", m, n);
    if (right) {
        X.resize(size_t(m) * r);
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < r; ++j) X[size_t(i) * r + j] = a[size_t(j) * m + i];
    } else {
        Y.resize(size_t(r) * n);
        for (size_t e = 0; e < size_t(r) * n; ++e) Y[e] = std::conj(a[e]);
    }
    return cut;
}

// out[a, s, b] = sum_s' G[s, s'] T[a, s', b] (G: d x d in R precision, zeros skipped).
template <class R>
void apply_gate(const std::vector<C<R>>& g, int dl, int d, int dr, const C<R>* T, C<R>* out) {
    for (int a = 0; a < dl; ++a) {
        const C<R>* blk = T + size_t(a) * d * dr;
        C<R>* dst0 = out + size_t(a) * d * dr;
        for (int s = 0; s < d; ++s) {
            C<R>* dst = dst0 + size_t(s) * dr;
            std::fill(dst, dst + dr, C<R>(0));
            for (int sp = 0; sp < d; ++sp) {
                const C<R> gv = g[size_t(s) * d + sp];
                if (gv == C<R>(0)) continue;
                const C<R>* src = blk + size_t(sp) * dr;
                for (int b = 0; b < dr; ++b) dst[b] += gv * src[b];
            }
        }
    }
}

template <class R>
std::vector<C<R>> to_precision(const std::vector<cplx>& g) {
    std::vector<C<R>> out(g.size());
    for (size_t i = 0; i < g.size(); ++i) out[i] = C<R>(g[i]);
    return out;
}

// Operator Schmidt decomposition of a two-site gate (4 x 4, block-position order):
// G[(s0 s1), (s0' s1')] = sum_k A_k[s0, s0'] B_k[s1, s1'], found as the SVD of the rearranged 4 x 4 matrix
// [(s0 s0'), (s1 s1')]. Returns the rank (terms above 1e-13 of the largest).
inline int operator_schmidt(const std::vector<cplx>& g, std::vector<cplx>& A, std::vector<cplx>& B) {
    std::vector<cplx> m(16);
    for (int s0 = 0; s0 < 2; ++s0)
        for (int s1 = 0; s1 < 2; ++s1)
            for (int t0 = 0; t0 < 2; ++t0)
                for (int t1 = 0; t1 < 2; ++t1)
                    m[size_t((s0 * 2 + t0) * 4 + (s1 * 2 + t1))] = g[size_t((s0 * 2 + s1) * 4 + (t0 * 2 + t1))];
    Svd<double> f;
    svd(4, 4, m.data(), f);
    int rank = 0;
    while (rank < 4 && f.s[size_t(rank)] > 1e-13 * f.s[0]) ++rank;
    A.assign(size_t(rank) * 4, 0.0);
    B.assign(size_t(rank) * 4, 0.0);
    for (int k = 0; k < rank; ++k) {
        const double r = std::sqrt(f.s[size_t(k)]);
        for (int x = 0; x < 4; ++x) {
            A[size_t(k) * 4 + x] = f.u[size_t(x) * 4 + k] * r;
            B[size_t(k) * 4 + x] = f.vt[size_t(k) * 4 + x] * r;
        }
    }
    return rank;
}

template <class R>
class Forward {
public:
    Forward(const std::vector<Block>& blocks, const Plan& plan, const double* angles, const Options& o)
        : blocks_(blocks), plan_(plan), angles_(angles), o_(o) {}

    void run(State<R>& st) {
        for (const Step& s : plan_.steps) {
            Site<R>* blk = st.s.data() + s.lo;
            if (s.kind == Step::Local) local(s, blk[0]);
            else if (s.kind == Step::Move) move(s.right, blk[0], blk[1]);
            else gate(s, blk, st);
        }
    }

    // The centre from `from` to `to` by exact moves (QR / LQ).
    void move_center(State<R>& st, int from, int to) {
        for (; from < to; ++from) move(true, st.s[size_t(from)], st.s[size_t(from) + 1]);
        for (; from > to; --from) move(false, st.s[size_t(from) - 1], st.s[size_t(from)]);
    }

private:
    const std::vector<Block>& blocks_;
    const Plan& plan_;
    const double* angles_;
    const Options& o_;
    Workspace<R> w_;
    std::vector<C<R>> q_, r_;

    void local(const Step& s, Site<R>& site) {
        std::vector<cplx> g = block_matrix(blocks_[size_t(s.locals[0])], angles_);
        for (size_t j = 1; j < s.locals.size(); ++j) {
            const auto h = block_matrix(blocks_[size_t(s.locals[j])], angles_);
            const std::vector<cplx> p{h[0] * g[0] + h[1] * g[2], h[0] * g[1] + h[1] * g[3], h[2] * g[0] + h[3] * g[2],
                                      h[2] * g[1] + h[3] * g[3]};
            g = p;
        }
        const auto gr = to_precision<R>(g);
        w_.t1.resize(site.size());
        apply_gate(gr, site.dl, 2, site.dr, site.t.data(), w_.t1.data());
        site.t.swap(w_.t1);
    }

    void move(bool right, Site<R>& a, Site<R>& b) {
        if (right) {  // a (2 dl x dr) = Q R; b <- R b
            const int r = qr_rows(2 * a.dl, a.dr, a.t.data(), q_, r_, w_);
            a.t.swap(q_);
            const int old = a.dr;
            a.dr = r;
            w_.t1.resize(size_t(r) * 2 * b.dr);
            gemm<R>(Tr::N, Tr::N, r, 2 * b.dr, old, C<R>(1), r_.data(), old, b.t.data(), 2 * b.dr, C<R>(0), w_.t1.data(),
                    2 * b.dr);
            b.t.swap(w_.t1);
            b.dl = r;
        } else {  // b (dl x 2 dr) = L Q; a <- a L
            const int r = lq_rows(b.dl, 2 * b.dr, b.t.data(), r_, q_, w_);
            b.t.swap(q_);
            const int old = b.dl;
            b.dl = r;
            w_.t1.resize(size_t(2) * a.dl * r);
            gemm<R>(Tr::N, Tr::N, 2 * a.dl, r, old, C<R>(1), a.t.data(), old, r_.data(), r, C<R>(0), w_.t1.data(), r);
            a.t.swap(w_.t1);
            a.dr = r;
        }
    }

    // Whether a split of an m x n matrix cannot truncate (then a pivoted QR replaces the SVD).
    bool exact_split(int m, int n) const {
        return o_.cutoff == 0 && (o_.max_bond == 0 || std::min(m, n) <= o_.max_bond);
    }

    void note(State<R>& st, const Cut& cut) {
        st.record(cut.eps);
        st.truncated = st.truncated || cut.truncated;
        st.max_bond = std::max(st.max_bond, cut.kept);
    }

    // Writes the kept part of the SVD in w_ (of an m x n matrix) as X (m x k), Y (k x n): X = U_k, Y = S_k V_k^H
    // when the centre goes right, X = U_k S_k, Y = V_k^H otherwise.
    Cut cut_and_split(int m, int n, bool right, std::vector<C<R>>& X, std::vector<C<R>>& Y) {
        const Cut cut = choose_kept(w_.s, o_, false);
        const int k = cut.kept, r = int(w_.s.size());
        X.resize(size_t(m) * k);
        Y.resize(size_t(k) * n);
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < k; ++j) X[size_t(i) * k + j] = w_.u[size_t(i) * r + j] * (right ? R(1) : w_.s[size_t(j)]);
        for (int j = 0; j < k; ++j) {
            const R sc = right ? w_.s[size_t(j)] : R(1);
            const C<R>* src = w_.vt.data() + size_t(j) * n;
            C<R>* dst = Y.data() + size_t(j) * n;
            for (int c = 0; c < n; ++c) dst[c] = src[c] * sc;
        }
        return cut;
    }

    void gate(const Step& s, Site<R>* blk, State<R>& st) {
        const Block& b = blocks_[size_t(s.block)];
        const auto g = block_matrix(b, angles_);
        if (b.k == 2) {
            const int dl = blk[0].dl, D = blk[0].dr, dr = blk[1].dr;
            if (!exact_split(2 * dl, 2 * dr) && s.rank * D < std::min(2 * dl, 2 * dr)) {
                reduced(b, g, blk, st);
                return;
            }
        }
        // T = blk_0 ... blk_(k-1) merged, the gate applied, k - 1 splits
        Site<R> T = blk[0];
        for (int j = 1; j < b.k; ++j) {
            Site<R> M;
            M.dl = T.dl;
            M.d = T.d * 2;
            M.dr = blk[j].dr;
            M.t.resize(M.size());
            gemm<R>(Tr::N, Tr::N, T.dl * T.d, 2 * M.dr, T.dr, C<R>(1), T.t.data(), T.dr, blk[j].t.data(), 2 * M.dr, C<R>(0),
                    M.t.data(), 2 * M.dr);
            T = std::move(M);
        }
        w_.t2.resize(T.size());
        apply_gate(to_precision<R>(g), T.dl, T.d, T.dr, T.t.data(), w_.t2.data());
        T.t.swap(w_.t2);
        for (int j = 0; j + 1 < b.k; ++j) {
            const int half = T.d / 2;
            const int m = b.center_right ? T.dl * 2 : T.dl * half;
            const int n = b.center_right ? half * T.dr : 2 * T.dr;
            std::vector<C<R>> X, Y;
            Cut cut;
            if (exact_split(m, n)) {
                cut = split_qr(m, n, T.t.data(), b.center_right, X, Y, w_);
            } else {
                svd_rows(m, n, T.t.data(), w_);
                cut = cut_and_split(m, n, b.center_right, X, Y);
            }
            note(st, cut);
            const int kept = cut.kept;
            if (b.center_right) {
                blk[j] = make_site<R>(T.dl, 2, kept, std::move(X));
                T = make_site<R>(kept, half, T.dr, std::move(Y));
            } else {
                blk[b.k - 1 - j] = make_site<R>(kept, 2, T.dr, std::move(Y));
                T = make_site<R>(T.dl, half, kept, std::move(X));
            }
        }
        blk[b.center_right ? b.k - 1 : 0] = std::move(T);
    }

    // The two-site gate through its operator Schmidt factors (see the file's head).
    void reduced(const Block& b, const std::vector<cplx>& g, Site<R>* blk, State<R>& st) {
        std::vector<cplx> Ad, Bd;
        const int rho = operator_schmidt(g, Ad, Bd);
        Site<R>& a = blk[0];
        Site<R>& c = blk[1];
        const int dl = a.dl, D = a.dr, dr = c.dr, kD = rho * D;
        // A'[(a, s), (k, b)] = sum_s' A_k[s, s'] a[a, s', b];  B'[(k, b), (t, c)] = sum_t' B_k[t, t'] c[b, t', c]
        auto& Ap = w_.t1;
        Ap.assign(size_t(2) * dl * kD, C<R>(0));
        for (int x = 0; x < dl; ++x)
            for (int sgm = 0; sgm < 2; ++sgm)
                for (int k = 0; k < rho; ++k) {
                    C<R>* dst = Ap.data() + (size_t(x) * 2 + sgm) * kD + size_t(k) * D;
                    for (int sp = 0; sp < 2; ++sp) {
                        const C<R> gv(Ad[size_t(k) * 4 + sgm * 2 + sp]);
                        if (gv == C<R>(0)) continue;
                        const C<R>* src = a.t.data() + (size_t(x) * 2 + sp) * D;
                        for (int y = 0; y < D; ++y) dst[y] += gv * src[y];
                    }
                }
        auto& Bp = w_.t2;
        Bp.assign(size_t(kD) * 2 * dr, C<R>(0));
        for (int k = 0; k < rho; ++k)
            for (int y = 0; y < D; ++y)
                for (int t = 0; t < 2; ++t) {
                    C<R>* dst = Bp.data() + (size_t(k) * D + y) * 2 * dr + size_t(t) * dr;
                    for (int tp = 0; tp < 2; ++tp) {
                        const C<R> gv(Bd[size_t(k) * 4 + t * 2 + tp]);
                        if (gv == C<R>(0)) continue;
                        const C<R>* src = c.t.data() + (size_t(y) * 2 + tp) * dr;
                        for (int z = 0; z < dr; ++z) dst[z] += gv * src[z];
                    }
                }
        std::vector<C<R>> QA, RA, LB, QB;
        const int r1 = qr_rows(2 * dl, kD, Ap.data(), QA, RA, w_);
        const int r2 = lq_rows(kD, 2 * dr, Bp.data(), LB, QB, w_);
        std::vector<C<R>> core(size_t(r1) * r2);
        gemm<R>(Tr::N, Tr::N, r1, r2, kD, C<R>(1), RA.data(), kD, LB.data(), r2, C<R>(0), core.data(), r2);
        svd_rows(r1, r2, core.data(), w_);
        std::vector<C<R>> X, Y;
        const Cut cut = cut_and_split(r1, r2, b.center_right, X, Y);
        note(st, cut);
        const int kept = cut.kept;
        a.t.resize(size_t(2) * dl * kept);
        gemm<R>(Tr::N, Tr::N, 2 * dl, kept, r1, C<R>(1), QA.data(), r1, X.data(), kept, C<R>(0), a.t.data(), kept);
        a.dr = kept;
        c.t.resize(size_t(kept) * 2 * dr);
        gemm<R>(Tr::N, Tr::N, kept, 2 * dr, r2, C<R>(1), Y.data(), r2, QB.data(), 2 * dr, C<R>(0), c.t.data(), 2 * dr);
        c.dl = kept;
    }
};

// The state of one row (forward only); *center receives the orthogonality centre.
template <class R>
State<R> run_forward(const std::vector<Block>& blocks, const Plan& plan, int n, const double* angles, const Options& o) {
    State<R> st = product_state<R>(n);
    Forward<R> f(blocks, plan, angles, o);
    f.run(st);
    return st;
}

// ||psi||^2 from the centre site (every other site an isometry).
template <class R>
double center_norm2(const State<R>& st, int center) {
    double acc = 0;
    for (const auto& v : st.s[size_t(center)].t) acc += double(std::norm(v));
    return acc;
}

// <psi|P|psi> using the canonical form: sites left of the centre are left isometries and those right of
// it right isometries, so the transfer product only runs over [min(first, c), max(last, c)].
template <class R>
std::complex<double> pauli_value_canonical(const State<R>& st, const std::string& letters, int center) {
    const int n = static_cast<int>(st.s.size());
    int first = center, last = center;
    for (int i = 0; i < n; ++i)
        if (letters[size_t(i)] != 'I') {
            first = std::min(first, i);
            last = std::max(last, i);
        }
    const int dl = st.s[size_t(first)].dl;
    std::vector<C<R>> E(size_t(dl) * dl, C<R>(0)), next, tmp;
    for (int i = 0; i < dl; ++i) E[size_t(i) * dl + i] = C<R>(1);
    for (int i = first; i <= last; ++i) {
        const auto& A = st.s[size_t(i)];
        next.assign(size_t(A.dr) * A.dr, C<R>(0));
        transfer_left(A, E.data(), pauli_action(letters[size_t(i)]), next.data(), tmp);
        E.swap(next);
    }
    const int d = st.s[size_t(last)].dr;
    std::complex<double> tr = 0;
    for (int i = 0; i < d; ++i) tr += std::complex<double>(E[size_t(i) * d + i]);
    return tr;
}

}  // namespace pyqml::mps::detail
