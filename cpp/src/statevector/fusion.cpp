// Two-wire gate fusion of the state-vector method (registers of kFuseMinWires wires and more).
//
// Items
// -----
// The ops are regrouped greedily, in circuit order. Each wire belongs to at most one open block. A
// single-wire op joins its wire's open block (or opens a one-wire block); a two-wire op joins the block
// that already holds both its wires, or else closes the two-wire blocks holding either of them and opens a
// new two-wire block with itself and the one-wire blocks of its wires (those commute with each other, so
// the product is exact); an op on three or more wires closes the blocks of its wires and is an item of its
// own. A block is emitted when it closes (and the open ones at the end, which share no wire): every op on a
// block's wires that precedes it in the circuit is in an earlier item, every one that follows is in a later
// one, so the item order respects each wire's op order. A block of one op runs that op's own kernel (a CNOT
// stays a swap); a block of several is one 2x2 or 4x4 pass. On StronglyEntanglingLayers a layer of Rot on
// every wire and a ring of CNOTs becomes about one 4x4 pass per wire instead of two passes per wire.
//
// Derivatives
// -----------
// For a block B = L_k ... L_1 (each op embedded in the block's local basis), the derivative with respect to
// a parameter of op j is dB = (L_k ... L_{j+1}) dL_j (L_{j-1} ... L_1), a 4x4 product bound once per row.
// The adjoint sweep takes a block like a gate: phi <- B^dag phi, the local overlap G with lambda
// (G_rc = sum conj(lambda_r) phi_c over the block's groups), lambda <- B^dag lambda, in one pass over both
// states (adjoint_step2 in fused.hpp); every parameter of the block is then 2 Re sum_rc dB_rc G_rc. This is
// the per-gate sweep's result regrouped: <lambda_after| dB |phi_before> is <lambda_j| dL_j |phi_j> with the
// block's other ops moved onto the states.
#include <atomic>
#include <string>
#include <vector>

#include "pyqml/common/errors.hpp"
#include "pyqml/statevector/fused.hpp"
#include "pyqml/statevector/overlap.hpp"
#include "pyqml/statevector/program.hpp"

namespace pyqml::sv {

namespace {

std::atomic<bool> g_fusion{true};
std::atomic<bool> g_sweep_region{true};
std::atomic<int> g_fused_par_min{kFusedParallelMinWires};
std::atomic<bool> g_fused_fma{true};

// Whether op kernel k can join a block: one or two wires, and a matrix that op_local below can write.
bool fusible(const OpKernel& k) {
    const int nw = k.nc + k.nt;
    if (nw > 2) return false;
    switch (k.kind) {
        case OpKernel::Dense1:
        case OpKernel::Dense2: return k.nc == 0;
        case OpKernel::Diagonal: return k.nc == 0;
        case OpKernel::Controlled1:
        case OpKernel::ControlledX: return k.nc == 1 && k.nt == 1;
        default: return false;
    }
}

// The op's full matrix on its own wires (2^nw square, row-major, first wire the high bit) from its bound
// target block m; `deriv`: m is a derivative block (the control-off part is then 0, not 1).
int op_local(const OpKernel& k, const cplx* m, bool deriv, cplx* out) {
    const int nw = k.nc + k.nt;
    const int d = 1 << nw;
    std::fill(out, out + d * d, cplx(0));
    switch (k.kind) {
        case OpKernel::Diagonal:
            for (int i = 0; i < d; ++i) out[i * d + i] = m[i];
            break;
        case OpKernel::Controlled1:
        case OpKernel::ControlledX:
            if (!deriv) out[0] = out[5] = 1;
            out[10] = m[0];
            out[11] = m[1];
            out[14] = m[2];
            out[15] = m[3];
            break;
        default: std::copy(m, m + d * d, out); break;
    }
    return d;
}

// Embeds an op's local matrix (on bits ob[0..nw)) into a block on bits bb[0..nq) (dimension 2^nq).
void embed(const cplx* M, const int* ob, int nw, const int* bb, int nq, cplx* out) {
    const int D = 1 << nq;
    int pos[2] = {0, 0};          // block bit index of each op wire
    unsigned rest = (1u << nq) - 1;  // block-local bit masks not touched by the op
    for (int a = 0; a < nw; ++a) {
        for (int q = 0; q < nq; ++q)
            if (bb[q] == ob[a]) pos[a] = q;
        rest &= ~(1u << (nq - 1 - pos[a]));
    }
    auto op_index = [&](int r) {
        int o = 0;
        for (int a = 0; a < nw; ++a) o |= ((r >> (nq - 1 - pos[a])) & 1) << (nw - 1 - a);
        return o;
    };
    const int d = 1 << nw;
    for (int r = 0; r < D; ++r)
        for (int c = 0; c < D; ++c)
            out[r * D + c] = ((r & rest) == (c & rest)) ? M[op_index(r) * d + op_index(c)] : cplx(0);
}

void matmul(const cplx* A, const cplx* B, int D, cplx* C) {
    cplx t[16];
    for (int r = 0; r < D; ++r)
        for (int c = 0; c < D; ++c) {
            cplx s = 0;
            for (int k = 0; k < D; ++k) s += A[r * D + k] * B[k * D + c];
            t[r * D + c] = s;
        }
    std::copy(t, t + D * D, C);
}

void identity(int D, cplx* out) {
    std::fill(out, out + D * D, cplx(0));
    for (int i = 0; i < D; ++i) out[i * D + i] = 1;
}

}  // namespace

bool fusion_enabled() { return g_fusion.load(std::memory_order_relaxed); }
bool fused_fma_enabled() { return g_fused_fma.load(std::memory_order_relaxed); }
void set_fused_fma_enabled(bool on) { g_fused_fma.store(on, std::memory_order_relaxed); }
void set_fusion_enabled(bool on) { g_fusion.store(on, std::memory_order_relaxed); }
bool sweep_region_enabled() { return g_sweep_region.load(std::memory_order_relaxed); }
void set_sweep_region_enabled(bool on) { g_sweep_region.store(on, std::memory_order_relaxed); }
int fused_parallel_min_wires() { return g_fused_par_min.load(std::memory_order_relaxed); }
void set_fused_parallel_min_wires(int n) {
    PYQML_REQUIRE(n >= 1 && n <= kMaxWires + 1, "fused_parallel_min_wires: between 1 and " +
                                                     std::to_string(kMaxWires + 1) + ", got " + std::to_string(n));
    g_fused_par_min.store(n, std::memory_order_relaxed);
}

void Program::build_fused() {
    const int n = circuit_.n_wires();
    const auto& ops = circuit_.ops();
    struct Open {
        FusedItem item;
        int wires[2];
    };
    std::vector<Open> blocks;            // open and closed blocks, by creation
    std::vector<int> open(n, -1);        // wire -> index into blocks of its open block
    std::vector<FusedItem> items;
    auto close = [&](int b) {
        Open& o = blocks[b];
        for (int q = 0; q < o.item.nq; ++q) open[o.wires[q]] = -1;
        items.push_back(std::move(o.item));
    };
    auto wires_of = [&](int w) { return bit_of_wire(n, w); };
    for (size_t i = 0; i < ops.size(); ++i) {
        const auto& wires = ops[i].wires;
        const OpKernel& k = kernels_[i];
        const int op = static_cast<int>(i);
        if (!fusible(k)) {
            for (int w : wires)
                if (open[w] >= 0) close(open[w]);
            FusedItem it;
            it.ops = {op};
            items.push_back(std::move(it));
            continue;
        }
        if (wires.size() == 1) {
            const int w = wires[0];
            if (open[w] >= 0) {
                blocks[open[w]].item.ops.push_back(op);
            } else {
                Open o;
                o.item.nq = 1;
                o.item.bits[0] = wires_of(w);
                o.item.ops = {op};
                o.wires[0] = w;
                blocks.push_back(std::move(o));
                open[w] = static_cast<int>(blocks.size()) - 1;
            }
            continue;
        }
        const int a = wires[0], b = wires[1];
        if (open[a] >= 0 && open[a] == open[b]) {
            blocks[open[a]].item.ops.push_back(op);
            continue;
        }
        for (int w : {a, b})
            if (open[w] >= 0 && blocks[open[w]].item.nq == 2) close(open[w]);
        Open o;
        o.item.nq = 2;
        o.item.bits[0] = wires_of(a);
        o.item.bits[1] = wires_of(b);
        o.wires[0] = a;
        o.wires[1] = b;
        for (int w : {a, b})
            if (open[w] >= 0) {
                auto& prev = blocks[open[w]].item.ops;
                o.item.ops.insert(o.item.ops.end(), prev.begin(), prev.end());
                prev.clear();
                open[w] = -1;  // merged: never emitted on its own
            }
        o.item.ops.push_back(op);
        blocks.push_back(std::move(o));
        open[a] = open[b] = static_cast<int>(blocks.size()) - 1;
    }
    for (size_t b = 0; b < blocks.size(); ++b)
        if (blocks[b].item.nq > 0 && open[blocks[b].wires[0]] == static_cast<int>(b)) close(static_cast<int>(b));
    // Blocks of one op run its own kernel; the others get their place in the fused buffer.
    fused_total_ = 0;
    first_trainable_item_ = items.size();
    for (size_t t = 0; t < items.size(); ++t) {
        FusedItem& it = items[t];
        bool trainable = false;
        for (int op : it.ops) trainable |= kernels_[op].trainable_mask != 0;
        if (trainable && first_trainable_item_ == items.size()) first_trainable_item_ = t;
        if (it.ops.size() == 1) {
            it.nq = 0;
            continue;
        }
        const int D = 1 << it.nq;
        it.offset = fused_total_;
        for (int op : it.ops)
            for (size_t p = 0; p < ops[op].params.size(); ++p)
                if (kernels_[op].trainable_mask & (1u << p)) it.derivs.emplace_back(op, static_cast<int>(p));
        fused_total_ += D * D * int(2 + it.derivs.size());
    }
    fused_ = std::move(items);
}

void Program::bind_fused(const cplx* mats, bool with_derivs, cplx* out) const {
    const cplx* dmats = mats + 2 * size_t(mat_total_);
    for (const FusedItem& it : fused_) {
        if (it.nq == 0) continue;
        const int D = 1 << it.nq, DD = D * D;
        const int k = static_cast<int>(it.ops.size());
        // L_j embedded, prefixes P_j = L_j ... L_1 (P_0 = I).
        std::vector<cplx> L(size_t(k) * DD), P(size_t(k + 1) * DD);
        cplx loc[16];
        identity(D, P.data());
        for (int j = 0; j < k; ++j) {
            const OpKernel& kk = kernels_[it.ops[j]];
            op_local(kk, mats + kk.mat_offset, false, loc);
            embed(loc, kk.bits, kk.nc + kk.nt, it.bits, it.nq, L.data() + size_t(j) * DD);
            matmul(L.data() + size_t(j) * DD, P.data() + size_t(j) * DD, D, P.data() + size_t(j + 1) * DD);
        }
        cplx* fwd = out + it.offset;
        cplx* inv = fwd + DD;
        std::copy(P.begin() + size_t(k) * DD, P.begin() + size_t(k + 1) * DD, fwd);
        for (int r = 0; r < D; ++r)
            for (int c = 0; c < D; ++c) inv[r * D + c] = std::conj(fwd[c * D + r]);
        if (!with_derivs || it.derivs.empty()) continue;
        // Suffixes S = L_k ... L_{j+1}, walked from the last op down.
        cplx S[16], dl[16], t[16];
        identity(D, S);
        for (int j = k - 1; j >= 0; --j) {
            const int op = it.ops[j];
            const OpKernel& kk = kernels_[op];
            for (size_t e = 0; e < it.derivs.size(); ++e) {
                if (it.derivs[e].first != op) continue;
                const int p = it.derivs[e].second;
                op_local(kk, dmats + kk.dmat_offset + size_t(p) * kk.mat_size, true, loc);
                embed(loc, kk.bits, kk.nc + kk.nt, it.bits, it.nq, dl);
                matmul(S, dl, D, t);
                matmul(t, P.data() + size_t(j) * DD, D, fwd + DD * (2 + e));
            }
            matmul(S, L.data() + size_t(j) * DD, D, S);
        }
    }
}

template <class F>
void Program::apply_fused_item(const FusedItem& it, amp_t<F>* psi, const cplx* mats, const cplx* fmats, bool inverse,
                               bool par) const {
    const int n = circuit_.n_wires();
    if (it.nq == 0) {
        const OpKernel& k = kernels_[it.ops[0]];
        if (k.kind == OpKernel::Dense2)  // the vectorised 4x4 kernel
            apply_fused2<F>(psi, n, k.bits[0], k.bits[1], mats + (inverse ? mat_total_ : 0) + k.mat_offset, par);
        else
            apply<F>(size_t(it.ops[0]), psi, mats, inverse, par);
        return;
    }
    const cplx* m = fmats + it.offset + (inverse ? (1 << (2 * it.nq)) : 0);
    if (it.nq == 1) apply_fused1<F>(psi, n, it.bits[0], m, par);
    else apply_fused2<F>(psi, n, it.bits[0], it.bits[1], m, par);
}

template <class F>
void Program::forward_fused(amp_t<F>* psi, const cplx* mats, bool par) const {
    const int n = circuit_.n_wires();
    const size_t size = size_t(1) << n;
    std::vector<cplx> fmats(fused_buffer_size());
    bind_fused(mats, false, fmats.data());
    // One parallel region for the whole pass (team.hpp): each item's pass splits over the team and ends
    // in its spinning barrier.
    run_sweep(par && sweep_region_enabled(), [&](bool, bool) {
        const int64_t parts = size >= (size_t(1) << 12) ? 64 : 1;
        for_range(parts, par, [&](int64_t b) {
            std::fill(psi + size * b / parts, psi + size * (b + 1) / parts, amp_t<F>(0));
            if (b == 0) psi[0] = 1;
        });
        for (const FusedItem& it : fused_) apply_fused_item<F>(it, psi, mats, fmats.data(), false, par);
    });
}

template <class F>
void Program::backward_fused(const cplx* mats, amp_t<F>* phi, amp_t<F>* const* lams, int nl, bool par,
                             double* d_angles) const {
    const int n = circuit_.n_wires();
    const int na = circuit_.n_angles();
    std::fill(d_angles, d_angles + size_t(nl) * na, 0.0);
    if (first_trainable_item_ >= fused_.size()) return;
    std::vector<cplx> fmats(fused_buffer_size());
    bind_fused(mats, true, fmats.data());
    const size_t stop = first_trainable_item_;
    // One parallel region for the whole sweep (team.hpp). Every thread of the team gets the same local
    // overlaps (reduce_range adds the chunks in a fixed order on every thread), so each writes its angle
    // gradients into its own buffer and the lead's become the result.
    run_sweep(par && sweep_region_enabled(), [&](bool in_team, bool lead) {
        std::vector<double> own(in_team && !lead ? size_t(nl) * na : 0, 0.0);
        double* d_out = own.empty() ? d_angles : own.data();
        for (size_t t = fused_.size(); t-- > stop;) {
            const FusedItem& it = fused_[t];
            const bool update_lam = t > stop;
            if (it.nq == 0) {
                const size_t op = size_t(it.ops[0]);
                const int p0 = circuit_.angle_offset(op);
                const OpKernel& k = kernels_[op];
                if (k.kind == OpKernel::Dense2 && k.trainable_mask) {  // one pass, as a block
                    for (int l = 0; l < nl; ++l) {
                        cplx G[16];
                        adjoint_step2<F>(phi, lams[l], n, k.bits[0], k.bits[1], mats + mat_total_ + k.mat_offset,
                                         l == 0, update_lam, G, par);
                        const cplx* d0 = mats + 2 * size_t(mat_total_) + k.dmat_offset;
                        double* out = d_out + size_t(l) * na + p0;
                        for (size_t p = 0; p < circuit_.ops()[op].params.size(); ++p) {
                            if (!(k.trainable_mask & (1u << p))) continue;
                            double re = 0.0;
                            for (int i = 0; i < 16; ++i) re += (d0[p * k.mat_size + i] * G[i]).real();
                            out[p] = 2.0 * re;
                        }
                    }
                    continue;
                }
                for (int l = 0; l < nl; ++l)
                    adjoint_step<F>(op, mats, phi, lams[l], d_out + size_t(l) * na + p0, l == 0, update_lam, par);
                continue;
            }
            const int DD = 1 << (2 * it.nq);
            const cplx* fm = fmats.data() + it.offset;
            if (it.derivs.empty()) {
                apply_fused_item<F>(it, phi, mats, fmats.data(), true, par);
                if (update_lam)
                    for (int l = 0; l < nl; ++l) apply_fused_item<F>(it, lams[l], mats, fmats.data(), true, par);
                continue;
            }
            for (int l = 0; l < nl; ++l) {
                cplx G[16];
                if (it.nq == 1)
                    adjoint_step_fused1<F>(phi, lams[l], n, it.bits[0], fm + DD, l == 0, update_lam, G, par);
                else adjoint_step2<F>(phi, lams[l], n, it.bits[0], it.bits[1], fm + DD, l == 0, update_lam, G, par);
                double* out = d_out + size_t(l) * na;
                for (size_t e = 0; e < it.derivs.size(); ++e) {
                    const cplx* dm = fm + DD * (2 + e);
                    double re = 0.0;
                    for (int i = 0; i < DD; ++i) re += (dm[i] * G[i]).real();
                    out[circuit_.angle_offset(size_t(it.derivs[e].first)) + it.derivs[e].second] = 2.0 * re;
                }
            }
        }
    });
}

template void Program::forward_fused<double>(amp_t<double>*, const cplx*, bool) const;
template void Program::forward_fused<float>(amp_t<float>*, const cplx*, bool) const;
template void Program::backward_fused<double>(const cplx*, amp_t<double>*, amp_t<double>* const*, int, bool,
                                              double*) const;
template void Program::backward_fused<float>(const cplx*, amp_t<float>*, amp_t<float>* const*, int, bool,
                                             double*) const;

}  // namespace pyqml::sv
