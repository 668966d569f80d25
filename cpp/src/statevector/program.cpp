#include "pyqml/statevector/program.hpp"

#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "pyqml/common/errors.hpp"

namespace pyqml::sv {

using gates::GateId;

Program::Program(const Circuit& circuit) : circuit_(circuit) {
    circuit_.require_no_channels("statevector");
    const int n = circuit_.n_wires();
    PYQML_REQUIRE(n <= kMaxWires, "the state-vector method handles at most " + std::to_string(kMaxWires) +
                                      " wires, the circuit has " + std::to_string(n) +
                                      " (use method=\"tensornet\" for local observables)");
    const auto& ops = circuit_.ops();
    first_trainable_ = ops.size();
    for (size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        const auto& spec = gates::gate_spec(op.gate);
        OpKernel k{};
        const int nw = static_cast<int>(op.wires.size());
        for (int a = 0; a < nw; ++a) k.bits[a] = bit_of_wire(n, op.wires[a]);
        k.nc = spec.n_controls;
        k.nt = nw - spec.n_controls;
        if (spec.diagonal) k.kind = OpKernel::Diagonal;
        else if (op.gate == GateId::CNOT || op.gate == GateId::Toffoli) k.kind = OpKernel::ControlledX;
        else if (k.nc == 1 && k.nt == 1) k.kind = OpKernel::Controlled1;
        else if (k.nc > 0 || nw == 3) k.kind = OpKernel::Controlled;
        else if (nw == 1) k.kind = OpKernel::Dense1;
        else k.kind = OpKernel::Dense2;
        k.mat_offset = mat_total_;
        k.mat_size = spec.diagonal ? (1 << k.nt) : (1 << (2 * k.nt));
        mat_total_ += k.mat_size;
        for (size_t a = 0; a < op.params.size(); ++a)
            if (op.params[a].kind != ParamRef::Const) k.trainable_mask |= 1u << a;
        k.dmat_offset = dmat_total_;
        if (k.trainable_mask) dmat_total_ += spec.n_params * k.mat_size;
        kernels_.push_back(k);
        if (first_trainable_ == ops.size())
            for (const ParamRef& p : op.params)
                if (p.kind != ParamRef::Const) first_trainable_ = i;
    }
    // Fusion: keep a pending run of single-wire ops per wire; flush a wire's run when a multi-wire op
    // touches it, and all runs at the end.
    std::vector<std::vector<int>> pending(n);
    auto flush = [&](int w) {
        if (!pending[w].empty()) schedule_.push_back(std::move(pending[w]));
        pending[w].clear();
    };
    for (size_t i = 0; i < ops.size(); ++i) {
        if (ops[i].wires.size() == 1) {
            pending[ops[i].wires[0]].push_back(static_cast<int>(i));
        } else {
            for (int w : ops[i].wires) flush(w);
            schedule_.push_back({static_cast<int>(i)});
        }
    }
    for (int w = 0; w < n; ++w) flush(w);
    if (n >= kTileMinWires) {
        // Tiles: the forward pass over the schedule items (a fused run as the 2x2 it becomes), the
        // adjoint sweep over the ops in reverse.
        std::vector<OpKernel> items;
        for (const auto& item : schedule_) {
            OpKernel k = kernels_[item[0]];
            if (item.size() > 1) {
                k.kind = OpKernel::Dense1;
                k.nc = 0;
                k.nt = 1;
            }
            items.push_back(k);
        }
        fwd_tiles_ = plan_tiles(n, items);
        std::vector<OpKernel> rev(kernels_.rbegin(), kernels_.rend());
        bwd_tiles_ = plan_tiles(n, rev);
        for (TileSegment& s : bwd_tiles_)
            for (int& it : s.items) it = static_cast<int>(kernels_.size()) - 1 - it;  // item -> op index
    }
    if (n >= kFuseMinWires) build_fused();
}

void Program::bind_matrices(const double* angles, cplx* mats, bool with_derivs) const {
    const auto& ops = circuit_.ops();
    cplx* inv = mats + mat_total_;
    for (size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        const OpKernel& k = kernels_[i];
        cplx* m = mats + k.mat_offset;
        const auto& spec = gates::gate_spec(op.gate);
        if (op.gate == GateId::QubitUnitary) {
            std::copy(op.unitary.begin(), op.unitary.end(), m);
        } else {
            spec.matrix(angles + circuit_.angle_offset(i), 1 << k.nt, m);
        }
        if (with_derivs && k.trainable_mask)
            gates::fill_dmatrices(op.gate, angles + circuit_.angle_offset(i), 1 << k.nt, k.trainable_mask,
                                  mats + 2 * size_t(mat_total_) + k.dmat_offset);
        cplx* mi = inv + k.mat_offset;
        if (k.kind == OpKernel::Diagonal) {
            for (int a = 0; a < k.mat_size; ++a) mi[a] = std::conj(m[a]);
        } else {
            const int dim = 1 << k.nt;
            for (int r = 0; r < dim; ++r)
                for (int c = 0; c < dim; ++c) mi[r * dim + c] = std::conj(m[c * dim + r]);
        }
    }
}

template <class F>
void Program::run_kernel(const OpKernel& k, int n, amp_t<F>* psi, const cplx* m, bool zero_off, bool par) const {
    switch (k.kind) {
        case OpKernel::Dense1: apply_dense1<F>(psi, n, k.bits[0], m, par); break;
        case OpKernel::Dense2: apply_dense2<F>(psi, n, k.bits[0], k.bits[1], m, par); break;
        case OpKernel::Controlled1:
            apply_controlled1<F>(psi, n, k.bits[0], k.bits[1], m, zero_off, par);
            break;
        case OpKernel::ControlledX:
            // Fixed gates have no derivative, so zero_off never reaches here.
            apply_controlled_x<F>(psi, n, k.bits, k.nc, k.bits[k.nc], par);
            break;
        case OpKernel::Controlled:
            apply_controlled<F>(psi, n, k.bits, k.nc, k.bits + k.nc, k.nt, m, zero_off, par);
            break;
        case OpKernel::Diagonal: apply_diagonal<F>(psi, n, k.bits, k.nt, m, par); break;
    }
}

template <class F>
void Program::apply(size_t op, amp_t<F>* psi, const cplx* mats, bool inverse, bool par) const {
    const OpKernel& k = kernels_[op];
    run_kernel<F>(k, circuit_.n_wires(), psi, mats + (inverse ? mat_total_ : 0) + k.mat_offset, false, par);
}

template <class F>
void Program::apply_derivative(size_t op, int kparam, const cplx* mats, amp_t<F>* psi, bool par) const {
    const OpKernel& k = kernels_[op];
    run_kernel<F>(k, circuit_.n_wires(), psi, mats + 2 * size_t(mat_total_) + k.dmat_offset + size_t(kparam) * k.mat_size,
                  true, par);
}

void Program::fuse_run(const std::vector<int>& item, const cplx* mats, cplx* acc) const {
    acc[0] = 1; acc[1] = 0; acc[2] = 0; acc[3] = 1;
    for (int op : item) {
        const OpKernel& k = kernels_[op];
        const cplx* m = mats + k.mat_offset;
        cplx g[4];
        if (k.kind == OpKernel::Diagonal) {
            g[0] = m[0]; g[1] = 0; g[2] = 0; g[3] = m[1];
        } else {
            for (int a = 0; a < 4; ++a) g[a] = m[a];
        }
        cplx r[4] = {g[0] * acc[0] + g[1] * acc[2], g[0] * acc[1] + g[1] * acc[3],
                     g[2] * acc[0] + g[3] * acc[2], g[2] * acc[1] + g[3] * acc[3]};
        for (int a = 0; a < 4; ++a) acc[a] = r[a];
    }
}

template <class F>
void Program::forward(amp_t<F>* psi, const cplx* mats, bool par) const {
    if (tiled()) forward_tiled<F>(psi, mats, par);
    else if (fused()) forward_fused<F>(psi, mats, par);
    else forward_per_gate<F>(psi, mats, par);
}

template <class F>
void Program::forward_tiled(amp_t<F>* psi, const cplx* mats, bool par) const {
    const int n = circuit_.n_wires();
    // The matrix of every schedule item: the op's own, or the 2x2 product of a fused run.
    std::vector<cplx> fused(4 * schedule_.size());
    std::vector<const cplx*> item_mat(schedule_.size());
    for (size_t i = 0; i < schedule_.size(); ++i) {
        if (schedule_[i].size() == 1) {
            item_mat[i] = mats + kernels_[schedule_[i][0]].mat_offset;
        } else {
            fuse_run(schedule_[i], mats, fused.data() + 4 * i);
            item_mat[i] = fused.data() + 4 * i;
        }
    }
    const int64_t nblocks = int64_t(1) << (n - kTileBits);
    const int team = par ? static_cast<int>(std::min<int64_t>(max_threads(), nblocks)) : 1;
    const size_t tile = size_t(1) << kTileBits;
    std::vector<amp_t<F>> bufs(size_t(team) * tile);
    SpinBarrier barrier;
#pragma omp parallel num_threads(team) if (team > 1)
    {
        // The region may hold fewer threads than asked for (nested in another, a thread limit): blocks
        // and the barrier go by the threads it has.
#ifdef PYQML_HAVE_OPENMP
        const int t = omp_get_thread_num(), got = omp_get_num_threads();
#else
        const int t = 0, got = 1;
#endif
#pragma omp single
        barrier.reset(got);
        const int64_t lo = nblocks * t / got, hi = nblocks * (t + 1) / got;
        std::fill(psi + lo * tile, psi + hi * tile, amp_t<F>(0));
        if (t == 0) psi[0] = 1;
        barrier.wait();
        amp_t<F>* buf = bufs.data() + size_t(t) * tile;
        for (const TileSegment& s : fwd_tiles_) {
            if (s.global) {
                if (t == 0) run_kernel<F>(s.local[0], n, psi, item_mat[s.items[0]], false, false);
                barrier.wait();
                continue;
            }
            const size_t chunk = size_t(1) << s.low_bits();
            for (int64_t blk = lo; blk < hi; ++blk) {
                const index_t base = s.block_base(index_t(blk));
                amp_t<F>* p = s.nhigh == 0 ? psi + base : buf;
                if (s.nhigh)
                    for (size_t c = 0; c < s.chunk.size(); ++c)
                        std::copy(psi + (base | s.chunk[c]), psi + (base | s.chunk[c]) + chunk, buf + c * chunk);
                for (size_t j = 0; j < s.items.size(); ++j)
                    run_kernel<F>(s.local[j], kTileBits, p, item_mat[s.items[j]], false, false);
                if (s.nhigh)
                    for (size_t c = 0; c < s.chunk.size(); ++c)
                        std::copy(buf + c * chunk, buf + (c + 1) * chunk, psi + (base | s.chunk[c]));
            }
            barrier.wait();
        }
    }
}

template <class F>
void Program::forward_per_gate(amp_t<F>* psi, const cplx* mats, bool par) const {
    const int n = circuit_.n_wires();
    const size_t size = size_t(1) << n;
    std::fill(psi, psi + size, amp_t<F>(0));
    psi[0] = 1;
    for (const auto& item : schedule_) {
        if (item.size() == 1) {
            apply<F>(item[0], psi, mats, false, par);
            continue;
        }
        cplx acc[4];
        fuse_run(item, mats, acc);
        apply_dense1<F>(psi, n, kernels_[item[0]].bits[0], acc, par);
    }
}

template void Program::forward<double>(amp_t<double>*, const cplx*, bool) const;
template void Program::forward<float>(amp_t<float>*, const cplx*, bool) const;
template void Program::run_kernel<double>(const OpKernel&, int, amp_t<double>*, const cplx*, bool, bool) const;
template void Program::run_kernel<float>(const OpKernel&, int, amp_t<float>*, const cplx*, bool, bool) const;
template void Program::forward_per_gate<double>(amp_t<double>*, const cplx*, bool) const;
template void Program::forward_per_gate<float>(amp_t<float>*, const cplx*, bool) const;
template void Program::apply<double>(size_t, amp_t<double>*, const cplx*, bool, bool) const;
template void Program::apply<float>(size_t, amp_t<float>*, const cplx*, bool, bool) const;
template void Program::apply_derivative<double>(size_t, int, const cplx*, amp_t<double>*, bool) const;
template void Program::apply_derivative<float>(size_t, int, const cplx*, amp_t<float>*, bool) const;

}  // namespace pyqml::sv
