// The adjoint Jacobian and the vector-Jacobian product of the state-vector method (Jones & Gacon,
// "Efficient calculation of gradients in classical simulations of variational quantum algorithms",
// arXiv:2009.02823, Algorithm 1), for a whole batch of rows.
//
// Forward, then one backward sweep
// --------------------------------
// For U = U_N ... U_1 and an observable H, <H> = <psi|H|psi> with psi = U|0>. One forward pass gives psi;
// then phi = psi and lambda = H psi, and the sweep walks the ops from the last to the first trainable one:
//
//     for k = N .. first trainable:
//         phi    <- U_k^dag phi                      (phi    = U_{k+1..N}^dag psi      -> U_{k..N}^dag psi)
//         d<H>/d theta_k = 2 Re <lambda| dU_k/d theta_k |phi>
//         lambda <- U_k^dag lambda                   (lambda = U_{k+1..N}^dag H psi    -> U_{k..N}^dag H psi)
//
// so memory is one phi plus one lambda per observable, and time is about one forward pass per state kept.
// A Jacobian keeps one lambda per observable (lambda_o = H_o psi); a VJP with cotangent c keeps a single
// lambda = sum_o c_o H_o psi, whose derivative terms are then already the contracted sums.
//
// Local overlap matrices
// ----------------------
// The derivative term is never formed as a state: for a gate on wires W with local matrix dU (2^|W| x
// 2^|W|), <lambda| dU |phi> = sum_rc dU_rc G_rc with G_rc = sum over the amplitude groups of W of
// conj(lambda[group, r]) phi[group, c] (overlap.hpp). G is one pass over the two states, shared by every
// parameter of the gate: Rot's three derivatives cost one pass, not three. Diagonal gates need only the
// diagonal of G; controlled gates only the groups with the controls set.
//
// Fused un-apply + overlap
// ------------------------
// For 2x2 gates (optionally singly controlled) with parameters, un-applying U_k to phi, accumulating G
// and un-applying U_k to lambda run as one pass over both states (adjoint_step1 in overlap.hpp, its inner
// loop multi-versioned for AVX-512 / AVX2 / baseline), reading and writing each state once instead of
// three times. With several lambdas the first lambda's step also updates phi; the others only read it.
// Other gates take the three steps in turn. At the first trainable op lambda is not un-applied (nothing
// reads it again).
//
// Gradients with respect to weights and inputs follow from the angle gradients by the chain rule of the
// circuit's affine parameter map (Circuit::chain). A shared-weights VJP sums rows in row order after the
// parallel loop, so its result does not depend on the thread count.
#include <algorithm>
#include <string>
#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/statevector/fused.hpp"
#include "pyqml/statevector/measure.hpp"
#include "pyqml/statevector/overlap.hpp"
#include "pyqml/statevector/program.hpp"
#include "pyqml/statevector/simulator.hpp"
#include "for_rows.hpp"

namespace pyqml::sv {

// ---------------------------------------------------------------------------------------------------
// One op of the backward sweep (Program)
// ---------------------------------------------------------------------------------------------------

template <class F>
void Program::derivative_brakets(size_t op, const cplx* mats, const amp_t<F>* lam, const amp_t<F>* phi,
                                 double* out, bool par) const {
    derivative_brakets_kernel<F>(kernels_[op], op, circuit_.n_wires(), mats, lam, phi, out, par);
}

template <class F>
void Program::derivative_brakets_kernel(const OpKernel& k, size_t op, int n, const cplx* mats, const amp_t<F>* lam,
                                        const amp_t<F>* phi, double* out, bool par) const {
    // Every entry the derivatives read is written by the overlap below: skip zero-initialising 64 values.
    // Wide diagonal gates (MultiRZ on more than 6 wires) need 2^k entries and take a heap buffer.
    alignas(cplx) unsigned char storage[64 * sizeof(cplx)];
    std::vector<cplx> wide(k.mat_size > 64 ? k.mat_size : 0);
    cplx* G = k.mat_size > 64 ? wide.data() : reinterpret_cast<cplx*>(storage);
    switch (k.kind) {
        case OpKernel::Dense1: overlap1<F>(lam, phi, n, k.bits[0], -1, G, par); break;
        case OpKernel::Controlled1: overlap1<F>(lam, phi, n, k.bits[1], k.bits[0], G, par); break;
        case OpKernel::Diagonal: overlap_diagonal<F>(lam, phi, n, k.bits, k.nt, G, par); break;
        default: overlap_block<F>(lam, phi, n, k.bits, k.nc, k.bits + k.nc, k.nt, G, par); break;
    }
    derivatives_from_overlap<F>(k, op, mats, G, out);
}

template <class F>
void Program::derivatives_from_overlap(const OpKernel& k, size_t op, const cplx* mats, const cplx* G,
                                       double* out) const {
    const cplx* d0 = mats + 2 * size_t(mat_total_) + k.dmat_offset;
    const int np = static_cast<int>(circuit_.ops()[op].params.size());
    for (int p = 0; p < np; ++p) {
        if (!(k.trainable_mask & (1u << p))) continue;
        const cplx* dm = d0 + size_t(p) * k.mat_size;
        double re = 0.0;
        for (int i = 0; i < k.mat_size; ++i) re += (dm[i] * G[i]).real();
        out[p] = 2.0 * re;
    }
}

template <class F>
void Program::adjoint_step(size_t op, const cplx* mats, amp_t<F>* phi, amp_t<F>* lam, double* out, bool update_phi,
                           bool update_lam, bool par) const {
    adjoint_step_kernel<F>(kernels_[op], op, circuit_.n_wires(), mats, phi, lam, out, update_phi, update_lam, par);
}

template <class F>
void Program::adjoint_step_kernel(const OpKernel& k, size_t op, int n, const cplx* mats, amp_t<F>* phi,
                                  amp_t<F>* lam, double* out, bool update_phi, bool update_lam, bool par) const {
    const cplx* uinv = mats + mat_total_ + k.mat_offset;
    if ((k.kind == OpKernel::Dense1 || k.kind == OpKernel::Controlled1) && k.trainable_mask) {
        cplx G[4];
        if (k.kind == OpKernel::Dense1)  // (complex64: on vectors of four amplitudes, fused.hpp)
            adjoint_step_fused1<F>(phi, lam, n, k.bits[0], uinv, update_phi, update_lam, G, par);
        else adjoint_step1<F>(phi, lam, n, k.bits[1], k.bits[0], uinv, update_phi, update_lam, G, par);
        derivatives_from_overlap<F>(k, op, mats, G, out);
        return;
    }
    if (update_phi) run_kernel<F>(k, n, phi, uinv, false, par);
    if (k.trainable_mask) derivative_brakets_kernel<F>(k, op, n, mats, lam, phi, out, par);
    if (update_lam) run_kernel<F>(k, n, lam, uinv, false, par);
}

template <class F>
void Program::backward_tiled(const cplx* mats, amp_t<F>* phi, amp_t<F>* const* lams, int nl, bool par,
                             double* d_angles) const {
    // The sweep of Simulator::backward, segment by segment: within a segment every op's bits are local to
    // a tile, so each block of phi and lambda goes through all of the segment's ops (un-apply to phi,
    // overlap, un-apply to lambda) while it is in cache, and the blocks' overlaps add up to the op's. With
    // several lambdas, each lambda takes its own pass over the block with phi re-read from the state
    // (phi is written back once, after the last). Each thread adds its blocks' derivative terms into its
    // own row of sums; the rows are added in thread order (reproducible for a given thread count).
    const int n = circuit_.n_wires();
    const int na = circuit_.n_angles();
    const size_t stop = first_trainable_;
    const int64_t nblocks = int64_t(1) << (n - kTileBits);
    const int team = par ? static_cast<int>(std::min<int64_t>(max_threads(), nblocks)) : 1;
    const size_t tile = size_t(1) << kTileBits;
    const size_t nacc = size_t(nl) * na;
    std::vector<double> acc(size_t(team) * nacc, 0.0);
    std::vector<amp_t<F>> bufs(size_t(team) * 2 * tile);
    SpinBarrier barrier;
    const auto& ops = circuit_.ops();
#pragma omp parallel num_threads(team) if (team > 1)
    {
        // The region may hold fewer threads than asked for: blocks and the barrier go by the threads it has
        // (rows of sums of absent threads stay 0).
#ifdef PYQML_HAVE_OPENMP
        const int t = omp_get_thread_num(), got = omp_get_num_threads();
#else
        const int t = 0, got = 1;
#endif
#pragma omp single
        barrier.reset(got);
        const int64_t lo = nblocks * t / got, hi = nblocks * (t + 1) / got;
        double* mine = acc.data() + size_t(t) * nacc;
        amp_t<F>* bp = bufs.data() + size_t(t) * 2 * tile;
        amp_t<F>* bl = bp + tile;
        double tmp[16];
        auto take = [&](size_t op, int l) {
            const unsigned mask = kernels_[op].trainable_mask;
            double* dst = mine + size_t(l) * na + circuit_.angle_offset(op);
            for (size_t p = 0; p < ops[op].params.size(); ++p)
                if (mask & (1u << p)) dst[p] += tmp[p];
        };
        for (const TileSegment& s : bwd_tiles_) {
            if (size_t(s.items[0]) < stop) break;  // ops only decrease from here on
            if (s.global) {
                const size_t op = size_t(s.items[0]);
                if (t == 0)
                    for (int l = 0; l < nl; ++l) {
                        adjoint_step_kernel<F>(kernels_[op], op, n, mats, phi, lams[l], tmp, l == 0, op > stop, false);
                        if (kernels_[op].trainable_mask) take(op, l);
                    }
                barrier.wait();
                continue;
            }
            const size_t chunk = size_t(1) << s.low_bits();
            const bool in_place = s.nhigh == 0 && nl == 1;
            auto gather = [&](const amp_t<F>* src, amp_t<F>* dst, index_t base) {
                for (size_t c = 0; c < s.chunk.size(); ++c)
                    std::copy(src + (base | s.chunk[c]), src + (base | s.chunk[c]) + chunk, dst + c * chunk);
            };
            auto scatter = [&](const amp_t<F>* src, amp_t<F>* dst, index_t base) {
                for (size_t c = 0; c < s.chunk.size(); ++c)
                    std::copy(src + c * chunk, src + (c + 1) * chunk, dst + (base | s.chunk[c]));
            };
            for (int64_t blk = lo; blk < hi; ++blk) {
                const index_t base = s.block_base(index_t(blk));
                for (int l = 0; l < nl; ++l) {
                    amp_t<F>* P = in_place ? phi + base : bp;
                    amp_t<F>* L = in_place ? lams[0] + base : bl;
                    if (!in_place) {
                        gather(phi, bp, base);
                        gather(lams[l], bl, base);
                    }
                    for (size_t j = 0; j < s.items.size(); ++j) {
                        const size_t op = size_t(s.items[j]);
                        if (op < stop) break;
                        adjoint_step_kernel<F>(s.local[j], op, kTileBits, mats, P, L, tmp, true, op > stop, false);
                        if (s.local[j].trainable_mask) take(op, l);
                    }
                    if (!in_place) {
                        scatter(bl, lams[l], base);
                        if (l == nl - 1) scatter(bp, phi, base);
                    }
                }
            }
            barrier.wait();
        }
    }
    std::fill(d_angles, d_angles + nacc, 0.0);
    for (int t = 0; t < team; ++t)
        for (size_t i = 0; i < nacc; ++i) d_angles[i] += acc[size_t(t) * nacc + i];
}

template void Program::backward_tiled<double>(const cplx*, amp_t<double>*, amp_t<double>* const*, int, bool,
                                              double*) const;
template void Program::backward_tiled<float>(const cplx*, amp_t<float>*, amp_t<float>* const*, int, bool,
                                             double*) const;

template void Program::adjoint_step<double>(size_t, const cplx*, amp_t<double>*, amp_t<double>*, double*, bool, bool,
                                            bool) const;
template void Program::adjoint_step<float>(size_t, const cplx*, amp_t<float>*, amp_t<float>*, double*, bool, bool,
                                           bool) const;

template void Program::derivative_brakets<double>(size_t, const cplx*, const amp_t<double>*, const amp_t<double>*,
                                                  double*, bool) const;
template void Program::derivative_brakets<float>(size_t, const cplx*, const amp_t<float>*, const amp_t<float>*,
                                                 double*, bool) const;

// ---------------------------------------------------------------------------------------------------
// The sweep and the batched calls (Simulator)
// ---------------------------------------------------------------------------------------------------

template <class F>
void Simulator::backward(const cplx* mats, amp_t<F>* phi, std::vector<amp_t<F>*>& lambdas, bool par,
                         double* d_angles) const {
    // One sweep from the last op back to the first trainable one, keeping phi = U_{k+1..N}^dag psi and
    // lambda = U_{k+1..N}^dag H psi; then d<H>/d angle_k = 2 Re <lambda| dU_k/d angle |phi_{k-1}>
    // (Jones & Gacon, arXiv:2009.02823, Algorithm 1). The derivative term is evaluated in one pass over
    // lambda and phi without forming dU phi, so the extra memory is one lambda per observable.
    const Circuit& c = program_.circuit();
    const int n = c.n_wires();
    const size_t size = size_t(1) << n;
    const size_t nl = lambdas.size();
    const int na = c.n_angles();
    if (program_.tiled()) {
        program_.template backward_tiled<F>(mats, phi, lambdas.data(), static_cast<int>(nl), par, d_angles);
        return;
    }
    if (program_.fused()) {
        program_.template backward_fused<F>(mats, phi, lambdas.data(), static_cast<int>(nl), par, d_angles);
        return;
    }
    std::fill(d_angles, d_angles + nl * na, 0.0);
    const size_t stop = program_.first_trainable_op();
    for (size_t op = program_.n_ops(); op-- > stop;) {
        const int p0 = c.angle_offset(op);
        for (size_t l = 0; l < nl; ++l)
            program_.template adjoint_step<F>(op, mats, phi, lambdas[l], d_angles + l * na + p0, l == 0, op > stop, par);
    }
}

template <class F>
void Simulator::adjoint_t(const Batch& b, const double* cot, double* vals, double* dw, double* dx,
                          double* dangles) const {
    // cot == nullptr: full Jacobian, one lambda per observable. Otherwise one lambda = sum_o cot_o H_o psi.
    if (cot && !dangles && use_shared(b, true, dx != nullptr)) {
        shared_->template vjp<F>(b, cot, vals, dw, dx);
        return;
    }
    if (use_lanes(b)) {
        lane_adjoint_t<F>(b, cot, vals, dw, dx, dangles);
        return;
    }
    const Circuit& c = program_.circuit();
    const int n = c.n_wires();
    const int no = n_observables();
    const int na = c.n_angles();
    const size_t size = size_t(1) << n;
    const int nl = cot ? 1 : no;
    RowGradients out(c, b, nl, cot != nullptr, dw, dx, dangles);
    for_rows<F>(b, 1 + nl, true, [&](int64_t r, const double*, const cplx* mats, amp_t<F>* states, bool par) {
        amp_t<F>* phi = states;
        std::vector<amp_t<F>*> lambdas(nl);
        for (int l = 0; l < nl; ++l) lambdas[l] = states + (1 + l) * size;
        program_.template forward<F>(phi, mats, par);
        for (int o = 0; o < no; ++o) vals[r * no + o] = sv::expval<F>(phi, n, obs_[o], par);
        if (cot) {
            std::fill(lambdas[0], lambdas[0] + size, amp_t<F>(0));
            for (int o = 0; o < no; ++o)
                if (cot[r * no + o] != 0.0) accumulate_observable<F>(phi, n, obs_[o], lambdas[0], par, cot[r * no + o]);
        } else {
            for (int o = 0; o < no; ++o) apply_observable<F>(phi, n, obs_[o], lambdas[o], par);
        }
        std::vector<double> g(size_t(nl) * na);
        backward<F>(mats, phi, lambdas, par, g.data());
        out.take(r, g.data());
    });
    out.finish();
}

void Simulator::jacobian(const Batch& b, double* vals, double* dw, double* dx) const {
    if (precision_ == Precision::Double) adjoint_t<double>(b, nullptr, vals, dw, dx, nullptr);
    else adjoint_t<float>(b, nullptr, vals, dw, dx, nullptr);
}

void Simulator::vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const {
    PYQML_REQUIRE(cot != nullptr, "vjp needs a cotangent");
    if (precision_ == Precision::Double) adjoint_t<double>(b, cot, vals, dw, dx, nullptr);
    else adjoint_t<float>(b, cot, vals, dw, dx, nullptr);
}

void Simulator::angle_jacobian(const Batch& b, double* vals, double* dangles) const {
    if (precision_ == Precision::Double) adjoint_t<double>(b, nullptr, vals, nullptr, nullptr, dangles);
    else adjoint_t<float>(b, nullptr, vals, nullptr, nullptr, dangles);
}

}  // namespace pyqml::sv
