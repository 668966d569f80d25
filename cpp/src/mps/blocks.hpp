#pragma once
// One program block on the MPS, forward (recording what its derivative needs when asked) and backward.
//
//   gate block on k sites (right sweep shown):
//     in_0 --merge-- in_1 --merge-- ... -> T (dl, 2^k, dr) --G--> T' --split--> out_0, T'' --split--> ...
//   centre move right:  in_lo (dl 2 x dr) --split--> out_lo = U, S V^H --merge with in_(lo+1)--> out_(lo+1)
#include <vector>

#include "tensors.hpp"

namespace pyqml::mps::detail {

// The gate's matrix in block-position order: block index bit (k-1-j) is position j, which holds gate wire
// perm[j] (bit k-1-perm[j] of the gate's own index).
inline std::vector<cplx> permuted(const Block& b, const std::vector<cplx>& g) {
    const int k = b.gate_wires;
    const size_t dim = size_t(1) << k;
    bool identity = true;
    for (int j = 0; j < k; ++j) identity = identity && b.perm[size_t(j)] == j;
    if (identity) return g;
    std::vector<size_t> map(dim);
    for (size_t bi = 0; bi < dim; ++bi) {
        size_t gi = 0;
        for (int j = 0; j < k; ++j)
            if ((bi >> (k - 1 - j)) & 1) gi |= size_t(1) << (k - 1 - b.perm[size_t(j)]);
        map[bi] = gi;
    }
    std::vector<cplx> out(dim * dim);
    for (size_t r = 0; r < dim; ++r)
        for (size_t c = 0; c < dim; ++c) out[r * dim + c] = g[map[r] * dim + map[c]];
    return out;
}

inline std::vector<cplx> block_matrix(const Block& b, const double* angles) {
    const double* p = b.n_params ? angles + b.angle0 : nullptr;
    return permuted(b, gates::full_matrix(b.gate, b.gate_wires, p, b.unitary ? b.unitary->data() : nullptr));
}

inline std::vector<cplx> block_dmatrix(const Block& b, const double* angles, int k) {
    return permuted(b, gates::full_dmatrix(b.gate, b.gate_wires, angles + b.angle0, k));
}

inline std::vector<cplx> dagger(const std::vector<cplx>& g, int dim) {
    std::vector<cplx> out(g.size());
    for (int r = 0; r < dim; ++r)
        for (int c = 0; c < dim; ++c) out[size_t(c) * dim + r] = std::conj(g[size_t(r) * dim + c]);
    return out;
}

template <class R>
struct SplitRecord {
    int m = 0, n = 0;
    std::vector<C<R>> M;
    Svd<R> f;
    Cut cut;
};

template <class R>
struct Trace {
    std::vector<Site<R>> T;  // T[j]: sites 0..j merged (before the gate)
    std::vector<SplitRecord<R>> splits;
};

template <class R>
Site<R> make_site(int dl, int d, int dr, std::vector<C<R>>&& t) {
    Site<R> s;
    s.dl = dl;
    s.d = d;
    s.dr = dr;
    s.t = std::move(t);
    return s;
}

// Runs block b on blk[0..k-1] (the sites lo..lo+k-1). rec (nullable) accumulates truncation errors.
template <class R>
void run_block(const Block& b, const double* angles, const Options& o, Site<R>* blk, State<R>* rec, Trace<R>* tr) {
    auto note = [&](const SplitRecord<R>& s) {
        if (rec) {
            rec->record(s.cut.eps);
            rec->truncated = rec->truncated || s.cut.truncated;
            rec->max_bond = std::max(rec->max_bond, s.cut.kept);
        }
    };
    if (b.k == 1) {
        apply_physical(block_matrix(b, angles), blk[0]);
        return;
    }
    std::vector<C<R>> X, Y;
    if (!b.has_gate) {  // centre move across the bond lo | lo + 1
        SplitRecord<R> s;
        Site<R>& src = b.center_right ? blk[0] : blk[1];
        s.m = b.center_right ? src.dl * 2 : src.dl;
        s.n = b.center_right ? src.dr : 2 * src.dr;
        split(s.m, s.n, src.t.data(), b.center_right, o, true, s.f, s.cut, X, Y);
        const int kept = s.cut.kept;
        note(s);
        if (b.center_right) {
            Site<R> ys = make_site<R>(kept, 1, src.dr, std::move(Y));
            const int dl = src.dl;
            if (tr) s.M = src.t;
            blk[0] = make_site<R>(dl, 2, kept, std::move(X));
            blk[1] = merge(ys, blk[1]);
        } else {
            Site<R> xs = make_site<R>(src.dl, 1, kept, std::move(X));
            const int dr = src.dr;
            if (tr) s.M = src.t;
            blk[1] = make_site<R>(kept, 2, dr, std::move(Y));
            blk[0] = merge(blk[0], xs);
        }
        if (tr) tr->splits.push_back(std::move(s));
        return;
    }
    Site<R> T = blk[0];
    if (tr) tr->T.push_back(T);
    for (int j = 1; j < b.k; ++j) {
        T = merge(T, blk[j]);
        if (tr) tr->T.push_back(T);
    }
    apply_physical(block_matrix(b, angles), T);
    for (int j = 0; j + 1 < b.k; ++j) {
        SplitRecord<R> s;
        const int half = T.d / 2;
        s.m = b.center_right ? T.dl * 2 : T.dl * half;
        s.n = b.center_right ? half * T.dr : 2 * T.dr;
        split(s.m, s.n, T.t.data(), b.center_right, o, false, s.f, s.cut, X, Y);
        note(s);
        const int kept = s.cut.kept;
        if (tr) s.M = T.t;
        if (b.center_right) {
            blk[j] = make_site<R>(T.dl, 2, kept, std::move(X));
            T = make_site<R>(kept, half, T.dr, std::move(Y));
        } else {
            blk[b.k - 1 - j] = make_site<R>(kept, 2, T.dr, std::move(Y));
            T = make_site<R>(T.dl, half, kept, std::move(X));
        }
        if (tr) tr->splits.push_back(std::move(s));
    }
    blk[b.center_right ? b.k - 1 : 0] = std::move(T);
}

// Given in[0..k-1] (the block's inputs), tr (what run_block recorded running the block on them; unused
// for one-site blocks) and G[0..k-1] (cotangents of its outputs), replaces G by the cotangents of the
// inputs and adds the derivatives along the gate's angles to d_angles.
template <class R>
void block_backward(const Block& b, const double* angles, const std::vector<Site<R>>& in, const Trace<R>& tr,
                    std::vector<std::vector<C<R>>>& G, double* d_angles) {
    if (b.k == 1) {
        const auto g = block_matrix(b, angles);
        for (int p = 0; p < b.n_params; ++p)
            d_angles[b.angle0 + p] += physical_inner(block_dmatrix(b, angles, p), in[0], G[0].data());
        Site<R> t = make_site<R>(in[0].dl, in[0].d, in[0].dr, std::move(G[0]));
        apply_physical(dagger(g, in[0].d), t);
        G[0] = std::move(t.t);
        return;
    }
    std::vector<C<R>> GL, GR;
    if (!b.has_gate) {
        const auto& s = tr.splits[0];
        const int kept = s.cut.kept;
        std::vector<C<R>> GM(size_t(s.m) * s.n);
        if (b.center_right) {
            // out_1 = merge(Y, in_1), Y = S V^H of in_0
            Site<R> ys;
            ys.dl = kept;
            ys.d = 1;
            ys.dr = in[0].dr;
            ys.t.resize(size_t(kept) * in[0].dr);
            for (int j = 0; j < kept; ++j)
                for (int c = 0; c < s.n; ++c) ys.t[size_t(j) * s.n + c] = s.f.vt[size_t(j) * s.n + c] * s.f.s[size_t(j)];
            merge_backward(ys, in[1], G[1].data(), GL, GR);
            split_backward(s.m, s.n, s.M.data(), s.f, kept, true, G[0].data(), GL.data(), GM.data());
            G[0] = std::move(GM);
            G[1] = std::move(GR);
        } else {
            Site<R> xs;
            xs.dl = in[1].dl;
            xs.d = 1;
            xs.dr = kept;
            xs.t.resize(size_t(s.m) * kept);
            for (int i = 0; i < s.m; ++i)
                for (int j = 0; j < kept; ++j) xs.t[size_t(i) * kept + j] = s.f.u[size_t(i) * s.f.r + j] * s.f.s[size_t(j)];
            merge_backward(in[0], xs, G[0].data(), GL, GR);
            split_backward(s.m, s.n, s.M.data(), s.f, kept, false, GR.data(), G[1].data(), GM.data());
            G[0] = std::move(GL);
            G[1] = std::move(GM);
        }
        return;
    }
    const int k = b.k;
    std::vector<C<R>> cur;  // cotangent of the part not yet split off
    if (b.center_right) {
        cur = std::move(G[size_t(k - 1)]);
        for (int j = k - 2; j >= 0; --j) {
            const auto& s = tr.splits[size_t(j)];
            std::vector<C<R>> GM(size_t(s.m) * s.n);
            split_backward(s.m, s.n, s.M.data(), s.f, s.cut.kept, true, G[size_t(j)].data(), cur.data(), GM.data());
            cur = std::move(GM);
        }
    } else {
        cur = std::move(G[0]);
        for (int j = k - 2; j >= 0; --j) {
            const auto& s = tr.splits[size_t(j)];
            std::vector<C<R>> GM(size_t(s.m) * s.n);
            split_backward(s.m, s.n, s.M.data(), s.f, s.cut.kept, false, cur.data(), G[size_t(k - 1 - j)].data(),
                           GM.data());
            cur = std::move(GM);
        }
    }
    const Site<R>& T = tr.T[size_t(k - 1)];
    for (int p = 0; p < b.n_params; ++p)
        d_angles[b.angle0 + p] += physical_inner(block_dmatrix(b, angles, p), T, cur.data());
    Site<R> gt = make_site<R>(T.dl, T.d, T.dr, std::move(cur));
    apply_physical(dagger(block_matrix(b, angles), T.d), gt);
    cur = std::move(gt.t);
    for (int j = k - 1; j >= 1; --j) {
        merge_backward(tr.T[size_t(j - 1)], in[size_t(j)], cur.data(), GL, GR);
        G[size_t(j)] = std::move(GR);
        cur = std::move(GL);
    }
    G[0] = std::move(cur);
}

// The same, recomputing the block's record from its inputs (the same SVDs, bit for bit).
template <class R>
void block_backward(const Block& b, const double* angles, const Options& o, const std::vector<Site<R>>& in,
                    std::vector<std::vector<C<R>>>& G, double* d_angles) {
    Trace<R> tr;
    if (b.k > 1) {
        std::vector<Site<R>> blk(in);
        run_block(b, angles, o, blk.data(), static_cast<State<R>*>(nullptr), &tr);
    }
    block_backward(b, angles, in, tr, G, d_angles);
}

}  // namespace pyqml::mps::detail
