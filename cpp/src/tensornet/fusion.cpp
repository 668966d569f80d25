#include "pyqml/tensornet/fusion.hpp"

#include <algorithm>

#include "pyqml/common/errors.hpp"

namespace pyqml::tn {

namespace {

// Ops looked at on each side of an anchor when collecting a window.
constexpr int kWindowSide = 8;

// A boolean pattern on at most two wires: bit (r * dim + c), dim <= 4.
using Mask = uint32_t;

// Channels are never fused: a block is a unitary, a channel a superoperator on the ket and bra lines.
bool fusable(const Op& op) {
    return op.wires.size() <= 2 && op.gate != gates::GateId::QubitUnitary && !op.is_channel();
}

// Positions of `wires` within `frame` (each must be there).
std::vector<int> positions(const std::vector<int>& wires, const std::vector<int>& frame) {
    std::vector<int> pos;
    for (int w : wires) pos.push_back(int(std::find(frame.begin(), frame.end(), w) - frame.begin()));
    return pos;
}

// Row/column index of the member's sub-matrix and the rest, for a frame index i on k wires.
inline void split(int i, const std::vector<int>& pos, int k, int& sub, int& rest) {
    sub = 0;
    rest = i;
    for (int p : pos) {
        const int bit = (i >> (k - 1 - p)) & 1;
        sub = sub << 1 | bit;
        rest &= ~(1 << (k - 1 - p));
    }
}

// The pattern of a member (on its wires, at `pos` in a k-wire frame) as a frame mask.
Mask embed_pattern(const Op& op, const std::vector<int>& pos, int k) {
    // Patterns of the fusable gates (one or two wires), computed once from the gate table.
    static const std::vector<std::vector<char>> table = [] {
        std::vector<std::vector<char>> t(2 * static_cast<int>(gates::GateId::Count));
        for (const auto& g : gates::all_gates())
            for (int nw = 1; nw <= 2; ++nw)
                if ((g.n_wires == nw || g.n_wires < 0) && g.id != gates::GateId::QubitUnitary)
                    t[2 * static_cast<int>(g.id) + nw - 1] = gates::full_pattern(g.id, nw);
        return t;
    }();
    const std::vector<char>& p = table[2 * static_cast<int>(op.gate) + op.wires.size() - 1];
    const int dim = 1 << k, mdim = 1 << op.wires.size();
    Mask m = 0;
    for (int r = 0; r < dim; ++r)
        for (int c = 0; c < dim; ++c) {
            int rs, rr, cs, cr;
            split(r, pos, k, rs, rr);
            split(c, pos, k, cs, cr);
            if (rr == cr && p[rs * mdim + cs]) m |= Mask(1) << (r * dim + c);
        }
    return m;
}

// Boolean product a . b of two k-wire masks (row r of the result: the union of b's rows j over a's row r).
Mask product(Mask a, Mask b, int k) {
    const int dim = 1 << k;
    const Mask row = (Mask(1) << dim) - 1;
    Mask out = 0;
    for (int r = 0; r < dim; ++r) {
        Mask o = 0;
        for (int j = 0; j < dim; ++j)
            if (a >> (r * dim + j) & 1) o |= (b >> (j * dim)) & row;
        out |= o << (r * dim);
    }
    return out;
}

// Bit q set when the mask is diagonal on frame wire q.
unsigned diagonal_wires(Mask m, int k) {
    const int dim = 1 << k;
    unsigned d = (1u << k) - 1;
    for (int r = 0; r < dim; ++r)
        for (int c = 0; c < dim; ++c)
            if (m >> (r * dim + c) & 1)
                for (int q = 0; q < k; ++q)
                    if (((r ^ c) >> (k - 1 - q)) & 1) d &= ~(1u << q);
    return d;
}

// Embeds a member's matrix (`pos` in a k-wire frame) into the frame: out = m (x) identity on the rest.
void embed_matrix(const cplx* m, const std::vector<int>& pos, int k, cplx* out) {
    const int dim = 1 << k, mdim = 1 << pos.size();
    for (int r = 0; r < dim; ++r)
        for (int c = 0; c < dim; ++c) {
            int rs, rr, cs, cr;
            split(r, pos, k, rs, rr);
            split(c, pos, k, cs, cr);
            out[r * dim + c] = rr == cr ? m[rs * mdim + cs] : cplx(0.0);
        }
}

// out = a . b (dim x dim).
void matmul(const cplx* a, const cplx* b, int dim, cplx* out) {
    for (int r = 0; r < dim; ++r)
        for (int c = 0; c < dim; ++c) {
            cplx s = 0;
            for (int j = 0; j < dim; ++j) s += a[r * dim + j] * b[j * dim + c];
            out[r * dim + c] = s;
        }
}

}  // namespace

FusedCircuit::FusedCircuit(const Circuit& c, bool fuse) : circuit_(c) {
    const auto& ops = c.ops();
    const int n_ops = static_cast<int>(ops.size());
    std::vector<std::vector<int>> wire_ops(c.n_wires());
    std::vector<std::vector<int>> pos(n_ops);
    for (int g = 0; g < n_ops; ++g)
        for (int w : ops[g].wires) {
            pos[g].push_back(static_cast<int>(wire_ops[w].size()));
            wire_ops[w].push_back(g);
        }
    // block_of[g]: index into `blocks` (op lists), or -1.
    std::vector<int> block_of(n_ops, -1);
    std::vector<std::pair<std::vector<int>, std::vector<int>>> blocks;  // (ops, frame wires)
    auto in_frame = [&](int g, const std::vector<int>& frame) {
        for (int w : ops[g].wires)
            if (std::find(frame.begin(), frame.end(), w) == frame.end()) return false;
        return true;
    };
    for (int g = 0; fuse && g < n_ops; ++g) {
        if (block_of[g] >= 0 || !fusable(ops[g])) continue;
        const std::vector<int>& frame = ops[g].wires;
        const int k = static_cast<int>(frame.size());
        // The window: the run of ops touching the frame's wires that stay within them, around g, in time order.
        auto takes = [&](int x) { return block_of[x] < 0 && fusable(ops[x]) && in_frame(x, frame); };
        std::vector<int> before, after;
        {
            std::vector<int> ptr(k);  // per frame wire: position of the earliest op taken so far
            for (int q = 0; q < k; ++q) ptr[q] = pos[g][q];
            while (static_cast<int>(before.size()) < kWindowSide) {
                int x = -1;
                for (int q = 0; q < k; ++q)
                    if (ptr[q] > 0) x = std::max(x, wire_ops[frame[q]][ptr[q] - 1]);
                if (x < 0 || !takes(x)) break;
                before.push_back(x);
                for (int q = 0; q < k; ++q)
                    if (ptr[q] > 0 && wire_ops[frame[q]][ptr[q] - 1] == x) --ptr[q];
            }
            for (int q = 0; q < k; ++q) ptr[q] = pos[g][q];
            while (static_cast<int>(after.size()) < kWindowSide) {
                int x = n_ops;
                for (int q = 0; q < k; ++q) {
                    const auto& lst = wire_ops[frame[q]];
                    if (ptr[q] + 1 < static_cast<int>(lst.size())) x = std::min(x, lst[ptr[q] + 1]);
                }
                if (x == n_ops || !takes(x)) break;
                after.push_back(x);
                for (int q = 0; q < k; ++q) {
                    const auto& lst = wire_ops[frame[q]];
                    if (ptr[q] + 1 < static_cast<int>(lst.size()) && lst[ptr[q] + 1] == x) ++ptr[q];
                }
            }
        }
        std::vector<int> win(before.rbegin(), before.rend());
        win.push_back(g);
        win.insert(win.end(), after.begin(), after.end());
        const int m = static_cast<int>(win.size());
        if (m < 2) continue;
        std::vector<Mask> pat(m);
        std::vector<unsigned> mdiag(m);
        for (int i = 0; i < m; ++i) {
            const Op& op = ops[win[i]];
            const std::vector<int> p = positions(op.wires, frame);
            pat[i] = embed_pattern(op, p, k);
            unsigned d = (1u << k) - 1;  // a member is diagonal on the frame wires it does not touch
            for (size_t j = 0; j < p.size(); ++j)
                if (!gates::diagonal_on_wire(op.gate, static_cast<int>(j))) d &= ~(1u << p[j]);
            mdiag[i] = d;
        }
        int bi = -1, bj = -1, best_d = -1;
        for (int i = 0; i < m; ++i) {
            Mask P = pat[i];
            unsigned all = mdiag[i];
            for (int j = i + 1; j < m; ++j) {
                P = product(pat[j], P, k);  // later members act after earlier ones
                all &= mdiag[j];
                const unsigned D = diagonal_wires(P, k);
                if ((D & ~all) == 0) continue;
                const int nd = __builtin_popcount(D);
                if (nd > best_d || (nd == best_d && j - i < bj - bi)) {
                    bi = i;
                    bj = j;
                    best_d = nd;
                }
            }
        }
        if (bi < 0) continue;
        std::vector<int> members(win.begin() + bi, win.begin() + bj + 1);
        std::vector<int> wires;  // the frame's wires the block touches, in frame order
        for (int w : frame)
            for (int x : members)
                if (std::find(ops[x].wires.begin(), ops[x].wires.end(), w) != ops[x].wires.end()) {
                    wires.push_back(w);
                    break;
                }
        for (int x : members) block_of[x] = static_cast<int>(blocks.size());
        blocks.emplace_back(std::move(members), std::move(wires));
    }
    // Units in the order of their first op: a topological order, since blocks are runs of ops touching their wires.
    std::vector<char> done(blocks.size(), 0);
    for (int g = 0; g < n_ops; ++g) {
        const Op& op = ops[g];
        Unit u;
        if (block_of[g] < 0) {
            u.ops = {g};
            u.wires = op.wires;
            u.members = {positions(op.wires, op.wires)};
            u.channel = op.is_channel();
            // A channel commutes with nothing in a light cone (lightcone.hpp): no wire counts as diagonal.
            for (size_t j = 0; j < op.wires.size(); ++j)
                u.diagonal.push_back(!u.channel && gates::diagonal_on_wire(op.gate, static_cast<int>(j)));
            u.n_params = op.n_params();
            u.name = op.name();
            // Channels key as "c<id>" (their Kraus data, like QubitUnitary's matrix, is a value).
            u.key = u.channel ? "c" + std::to_string(static_cast<int>(op.channel)) : std::to_string(static_cast<int>(op.gate));
        } else {
            const int b = block_of[g];
            if (done[b]) continue;
            done[b] = 1;
            u.ops = blocks[b].first;
            u.wires = blocks[b].second;
            const int k = static_cast<int>(u.wires.size());
            Mask P = 0;
            u.key = "[";
            u.name = "[";
            for (size_t i = 0; i < u.ops.size(); ++i) {
                const Op& mo = ops[u.ops[i]];
                std::vector<int> p = positions(mo.wires, u.wires);
                const Mask e = embed_pattern(mo, p, k);
                P = i == 0 ? e : product(e, P, k);
                u.n_params += gates::gate_spec(mo.gate).n_params;
                if (i) {
                    u.key += ';';
                    u.name += "; ";
                }
                u.key += std::to_string(static_cast<int>(mo.gate));
                u.name += gates::gate_spec(mo.gate).name;
                for (int q : p) {
                    u.key += ',' + std::to_string(q);
                    u.name += ' ' + std::to_string(q);
                }
                u.members.push_back(std::move(p));
            }
            u.key += ']';
            u.name += ']';
            const unsigned D = diagonal_wires(P, k);
            for (int q = 0; q < k; ++q) u.diagonal.push_back((D >> q) & 1);
            ++n_fused_;
        }
        units_.push_back(std::move(u));
    }
}

std::vector<cplx> FusedCircuit::matrix(int ui, const double* angles) const {
    const Unit& u = units_[ui];
    const auto& ops = circuit_.ops();
    if (u.channel) {
        const Op& op = ops[u.ops[0]];
        const int k = static_cast<int>(u.wires.size());
        std::vector<cplx> S(size_t(1) << (4 * k));
        gates::superoperator(op.channel, k, angles + circuit_.angle_offset(u.ops[0]), op.unitary.data(),
                             op.unitary.size(), S.data());
        return S;
    }
    if (!u.fused()) {
        const Op& op = ops[u.ops[0]];
        return gates::full_matrix(op.gate, static_cast<int>(op.wires.size()), angles + circuit_.angle_offset(u.ops[0]),
                                  op.unitary.empty() ? nullptr : op.unitary.data());
    }
    const int k = static_cast<int>(u.wires.size()), dim = 1 << k;
    std::vector<cplx> acc(dim * dim, 0.0);
    for (int r = 0; r < dim; ++r) acc[r * dim + r] = 1.0;
    cplx tmp[16];
    for (size_t i = 0; i < u.ops.size(); ++i) {
        const Op& op = ops[u.ops[i]];
        const auto m = gates::full_matrix(op.gate, static_cast<int>(op.wires.size()), angles + circuit_.angle_offset(u.ops[i]));
        // acc <- (m on its wires, identity elsewhere) . acc, without forming the embedded matrix.
        const std::vector<int>& pos = u.members[i];
        const int mdim = 1 << pos.size();
        for (int r = 0; r < dim; ++r) {
            int rs, rest;
            split(r, pos, k, rs, rest);
            for (int c = 0; c < dim; ++c) {
                cplx v = 0;
                for (int j = 0; j < mdim; ++j) {
                    // Row index s with the member's bits j and the other bits of r.
                    int srow = rest;
                    for (size_t b = 0; b < pos.size(); ++b)
                        if ((j >> (pos.size() - 1 - b)) & 1) srow |= 1 << (k - 1 - pos[b]);
                    v += m[rs * mdim + j] * acc[srow * dim + c];
                }
                tmp[r * dim + c] = v;
            }
        }
        std::copy(tmp, tmp + dim * dim, acc.begin());
    }
    return acc;
}

std::vector<cplx> FusedCircuit::dmatrices(int ui, const double* angles) const {
    const Unit& u = units_[ui];
    const auto& ops = circuit_.ops();
    const int k = static_cast<int>(u.wires.size()), dim = 1 << k, sz = dim * dim;
    std::vector<cplx> out;
    if (u.channel) {  // d S / d p for each parameter (4^k x 4^k each)
        const Op& op = ops[u.ops[0]];
        std::vector<cplx> S(size_t(1) << (4 * k));
        out.resize(size_t(u.n_params) * S.size());
        gates::superoperator(op.channel, k, angles + circuit_.angle_offset(u.ops[0]), op.unitary.data(),
                             op.unitary.size(), S.data(), out.data());
        return out;
    }
    out.reserve(size_t(u.n_params) * sz);
    if (!u.fused()) {
        const Op& op = ops[u.ops[0]];
        for (int p = 0; p < u.n_params; ++p) {
            auto d = gates::full_dmatrix(op.gate, k, angles + circuit_.angle_offset(u.ops[0]), p);
            out.insert(out.end(), d.begin(), d.end());
        }
        return out;
    }
    const int n = static_cast<int>(u.ops.size());
    // Members embedded in the frame, g[i]; before[i] = G_{i-1} ... G_1 and after[i] = G_n ... G_{i+1}
    // (flat buffers of n matrices).
    std::vector<cplx> g(size_t(n) * sz), before(size_t(n) * sz, 0.0), after(size_t(n) * sz, 0.0);
    for (int i = 0; i < n; ++i) {
        const Op& op = ops[u.ops[i]];
        auto m = gates::full_matrix(op.gate, static_cast<int>(op.wires.size()), angles + circuit_.angle_offset(u.ops[i]));
        embed_matrix(m.data(), u.members[i], k, g.data() + i * sz);
    }
    for (int r = 0; r < dim; ++r) before[r * dim + r] = after[(n - 1) * sz + r * dim + r] = 1.0;
    for (int i = 1; i < n; ++i) matmul(g.data() + (i - 1) * sz, before.data() + (i - 1) * sz, dim, before.data() + i * sz);
    for (int i = n - 2; i >= 0; --i) matmul(after.data() + (i + 1) * sz, g.data() + (i + 1) * sz, dim, after.data() + i * sz);
    cplx e[16], t[16];
    out.resize(size_t(u.n_params) * sz);
    size_t at = 0;
    for (int i = 0; i < n; ++i) {
        const Op& op = ops[u.ops[i]];
        const int np = gates::gate_spec(op.gate).n_params;
        for (int p = 0; p < np; ++p) {
            auto dm = gates::full_dmatrix(op.gate, static_cast<int>(op.wires.size()),
                                          angles + circuit_.angle_offset(u.ops[i]), p);
            embed_matrix(dm.data(), u.members[i], k, e);
            matmul(e, before.data() + i * sz, dim, t);
            matmul(after.data() + i * sz, t, dim, out.data() + at);
            at += sz;
        }
    }
    return out;
}

}  // namespace pyqml::tn
