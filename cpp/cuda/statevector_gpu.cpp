// cuda::StateVector: the state-vector method on one GPU, from the same compiled Program as the CPU engine.
//
// Per call, the host binds every row's angles to gate matrices (Program::bind_matrices, the fused
// single-wire products of the forward schedule in front) and uploads them; everything else runs on the
// device:
//   * registers of at most kBatchMaxWires wires with enough rows: one launch per chunk of rows, one warp
//     per row running the whole circuit, values and (for gradients) the adjoint sweep, states in shared
//     memory (run_batch);
//   * otherwise row by row: one launch per gate over the whole device, reductions into per-block partial
//     sums, the adjoint sweep's states kept on the device from the forward pass to the last derivative.
// Gradients with respect to weights and inputs follow from the angle gradients by Circuit::chain on the
// host, as in the CPU engine (adjoint.cpp), with the shared-weights VJP summed in row order.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <functional>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "device_buffer.hpp"
#include "kernels.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/cuda/gpu.hpp"
#include "pyqml/statevector/simulator.hpp"

namespace pyqml::cuda {

using sv::OpKernel;

struct StateVector::Impl {
    sv::Program program;
    std::vector<std::vector<PauliMasks>> obs;
    Precision precision;
    int device;
    size_t fused = 0;  // complex entries of the fused products in front of each row's matrices
    size_t mat_total = 0;
    std::vector<DevOp> fwd, ops;
    std::vector<DevTerm> terms;
    std::vector<int> obs_start;
    DeviceBuffer d_fwd, d_ops, d_terms, d_obs_start;
    // Per-call workspaces, kept between calls (grown on demand).
    DeviceBuffer d_states, d_mats, d_partials, d_small, d_vals, d_dangles, d_cot, d_scratch;
    mutable std::mutex mutex;

    Impl(const Circuit& c, std::vector<Observable> observables, Precision p, int dev)
        : program(c), precision(p), device(dev) {
        std::string why;
        if (!available(&why)) throw InvalidInput("device=\"gpu\": " + why);
        const int count = device_count();
        PYQML_REQUIRE(dev >= 0 && dev < count, "CUDA device " + std::to_string(dev) + " does not exist (" +
                                                   std::to_string(count) + " device(s) present)");
        for (const Observable& o : observables) obs.push_back(compile_observable(o, c.n_wires()));
        build_tables();
        check(cudaSetDevice(device), "cudaSetDevice");
        upload(d_fwd, fwd.data(), fwd.size() * sizeof(DevOp), "uploading the forward schedule");
        upload(d_ops, ops.data(), ops.size() * sizeof(DevOp), "uploading the ops");
        upload(d_terms, terms.data(), terms.size() * sizeof(DevTerm), "uploading the observables");
        upload(d_obs_start, obs_start.data(), obs_start.size() * sizeof(int), "uploading the observables");
    }

    int n() const { return program.n_wires(); }
    size_t amp_bytes() const { return precision == Precision::Double ? 16 : 8; }

    DevOp make_op(size_t i) const {
        const OpKernel& k = program.kernel(i);
        const Circuit& c = program.circuit();
        DevOp d;
        d.mat = int(fused + k.mat_offset);
        d.inv = int(fused + program.inverse_offset() + k.mat_offset);
        d.dmat = int(fused + program.derivative_offset() + k.dmat_offset);
        d.mat_size = k.mat_size;
        d.trainable_mask = k.trainable_mask;
        d.angle_offset = c.angle_offset(i);
        PYQML_REQUIRE(c.ops()[i].params.size() <= 3, "the GPU state vector takes gates of at most 3 parameters");
        if (k.kind == OpKernel::Diagonal) {
            d.kind = DevOp::Diagonal;
            d.nt = k.nt;
            for (int a = 0; a < k.nt; ++a) d.bits[a] = k.bits[a];
            return d;
        }
        d.kind = DevOp::Dense;
        d.nc = k.nc;
        d.nt = k.nt;
        PYQML_REQUIRE(k.nt >= 1 && k.nt <= 3 && k.nc + k.nt <= 8,
                      "the GPU state vector takes dense gates on 1 to 3 target wires");
        PYQML_REQUIRE(!k.trainable_mask || k.nt <= 2,
                      "the GPU state vector differentiates gates on at most 2 target wires");
        d.nsorted = k.nc + k.nt;
        for (int a = 0; a < d.nsorted; ++a) d.sorted[a] = k.bits[a];
        std::sort(d.sorted, d.sorted + d.nsorted);
        for (int a = 0; a < k.nc; ++a) d.cmask |= uint64_t(1) << k.bits[a];
        for (int r = 0; r < (1 << k.nt); ++r)
            for (int a = 0; a < k.nt; ++a)
                if (r & (1 << (k.nt - 1 - a))) d.offs[r] |= uint64_t(1) << k.bits[k.nc + a];
        return d;
    }

    void build_tables() {
        const auto& sched = program.schedule();
        for (const auto& item : sched)
            if (item.size() > 1) fused += 4;
        mat_total = program.inverse_offset();
        for (size_t i = 0; i < program.n_ops(); ++i) ops.push_back(make_op(i));
        size_t f = 0;
        for (const auto& item : sched) {
            if (item.size() == 1) {
                fwd.push_back(ops[size_t(item[0])]);
                continue;
            }
            DevOp d;
            d.kind = DevOp::Dense;
            d.nt = 1;
            d.nsorted = 1;
            d.sorted[0] = program.kernel(size_t(item[0])).bits[0];
            d.offs[1] = uint64_t(1) << d.sorted[0];
            d.mat = int(f);
            d.mat_size = 4;
            fwd.push_back(d);
            f += 4;
        }
        obs_start.push_back(0);
        for (const auto& o : obs) {
            for (const PauliMasks& t : o) {
                DevTerm d;
                d.xmask = t.xmask;
                d.zmask = t.zmask;
                d.phase_re = t.phase.real();
                d.phase_im = t.phase.imag();
                terms.push_back(d);
            }
            obs_start.push_back(int(terms.size()));
        }
    }

    // Entries per row uploaded: values need the fused and forward matrices, gradients everything.
    size_t stride(bool grads) const { return fused + (grads ? program.matrix_buffer_size() : mat_total); }

    // Binds rows [r0, r0 + cnt) into buf (cnt x stride complex128), in parallel over rows.
    void bind_rows(const Batch& b, int64_t r0, int64_t cnt, bool grads, std::vector<cplx>& buf) const {
        const Circuit& c = program.circuit();
        const size_t st = stride(grads);
        buf.resize(size_t(cnt) * st);
        const auto& sched = program.schedule();
        std::string error;
        bool failed = false;
#pragma omp parallel if (cnt > 64)
        {
            std::vector<double> angles(size_t(c.n_angles()));
            std::vector<cplx> mats(program.matrix_buffer_size());
#pragma omp for schedule(static)
            for (int64_t j = 0; j < cnt; ++j) {
                if (failed) continue;
                const int64_t r = r0 + j;
                try {
                    if (b.angles) {
                        std::copy(b.angles + r * c.n_angles(), b.angles + (r + 1) * c.n_angles(), angles.begin());
                        for (double a : angles)
                            PYQML_REQUIRE(std::isfinite(a), "angle is NaN or infinite in row " + std::to_string(r));
                    } else {
                        const double* w = b.weights_per_row ? b.weights + r * c.n_weights() : b.weights;
                        const double* x = b.inputs ? b.inputs + r * c.n_inputs() : nullptr;
                        c.bind(w, x, angles.data());
                    }
                    program.bind_matrices(angles.data(), mats.data(), grads);
                    cplx* row = buf.data() + size_t(j) * st;
                    size_t f = 0;
                    for (const auto& item : sched)
                        if (item.size() > 1) {
                            program.fuse_run(item, mats.data(), row + f);
                            f += 4;
                        }
                    std::copy(mats.begin(), mats.begin() + (st - fused), row + fused);
                } catch (const std::exception& e) {
#pragma omp critical(pyqml_gpu_bind_error)
                    {
                        if (!failed) error = "row " + std::to_string(r) + ": " + e.what();
                        failed = true;
                    }
                }
            }
        }
        if (failed) throw InvalidInput(error);
    }

    // Refuses before allocating when `bytes` (beyond what this object already holds) exceed free device memory.
    void guard(double bytes, const std::string& what) const {
        size_t f = 0, t = 0;
        check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
        const double held = double(d_states.bytes + d_mats.bytes + d_vals.bytes + d_dangles.bytes + d_cot.bytes +
                                   d_scratch.bytes);
        const double avail = double(f) + held;
        if (bytes > avail)
            throw MemoryLimitExceeded(what + " on CUDA device " + std::to_string(device) + " needs an estimated " +
                                          std::to_string((long long)bytes) + " bytes, over its free memory of " +
                                          std::to_string((long long)avail) + " bytes",
                                      bytes, avail);
    }

    bool use_batch(int64_t rows) const {
        const int nw = n();
        return nw <= kBatchMaxWires && (nw <= 10 || rows >= 64);
    }

    // ---------------------------------------------------------------------------------------------
    // Row by row
    // ---------------------------------------------------------------------------------------------

    template <class F>
    void* state_ptr(int s) const {
        return static_cast<char*>(d_states.p) + size_t(s) * (size_t(1) << n()) * sizeof(F) * 2;
    }

    void reserve_rows(int states, bool grads, int nl, const std::string& what) {
        const double sb = double(states) * std::ldexp(double(amp_bytes()), n());
        const double mb = double(stride(grads)) * 16.0;
        guard(sb + mb + 4.0 * kMaxPartials * 8.0 * std::max<size_t>(1, terms.size()), what);
        d_states.ensure(size_t(sb), "allocating the state vectors");
        d_mats.ensure(size_t(mb), "allocating the gate matrices");
        d_partials.ensure(size_t(4) * kMaxPartials * sizeof(double) * std::max<size_t>(1, terms.size()),
                          "allocating the reduction buffers");
        d_small.ensure(sizeof(double) * std::max<size_t>(64, 2 * terms.size()), "allocating the result buffer");
        d_dangles.ensure(sizeof(double) * std::max<size_t>(1, size_t(nl) * program.circuit().n_angles()),
                         "allocating the angle gradients");
    }

    template <class F>
    void forward_row(const cplx* row_mats, size_t st) {
        upload(d_mats, row_mats, st * sizeof(cplx), "uploading the gate matrices");
        void* psi = state_ptr<F>(0);
        set_basis_zero<F>(psi, n());
        const cplx* dm = d_mats.as<cplx>();
        for (const DevOp& op : fwd) apply_op<F>(psi, n(), op, dm + op.mat);
    }

    // <H_o> for every observable, from state s.
    template <class F>
    void values_row(int s, double* out) {
        if (terms.empty()) {
            std::fill(out, out + obs.size(), 0.0);
            return;
        }
        std::vector<double> sums(2 * terms.size());
        pauli_sums<F>(state_ptr<F>(s), n(), d_terms.as<DevTerm>(), int(terms.size()), d_partials.as<double>(),
                      d_small.as<double>());
        download(sums.data(), d_small.p, sums.size() * sizeof(double), "reading the expectation values");
        for (size_t o = 0; o + 1 < obs_start.size(); ++o) {
            double tot = 0.0;
            for (int t = obs_start[o]; t < obs_start[o + 1]; ++t)
                tot += terms[size_t(t)].phase_re * sums[2 * size_t(t)] - terms[size_t(t)].phase_im * sums[2 * size_t(t) + 1];
            out[o] = tot;
        }
    }

    template <class F>
    void for_rows(const Batch& b, int states, bool grads, int nl, const std::string& what,
                  const std::function<void(int64_t)>& body) {
        reserve_rows(states, grads, nl, what);
        const size_t st = stride(grads);
        const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(b.rows, 256));
        std::vector<cplx> buf;
        for (int64_t r0 = 0; r0 < b.rows; r0 += chunk) {
            const int64_t cnt = std::min(chunk, b.rows - r0);
            bind_rows(b, r0, cnt, grads, buf);
            for (int64_t j = 0; j < cnt; ++j) {
                forward_row<F>(buf.data() + size_t(j) * st, st);
                body(r0 + j);
            }
        }
    }

    // Angle gradients g (nl x n_angles) of row r into dw / dx, as the CPU engine does.
    void chain_row(const Batch& b, int64_t r, const double* g, int nl, bool shared_dw, double* dw, double* dx,
                   std::vector<double>& dw_rows) const {
        if (b.angles) return;
        const Circuit& c = program.circuit();
        const int nw = c.n_weights(), nx = c.n_inputs(), na = c.n_angles();
        for (int l = 0; l < nl; ++l) {
            double* dwl;
            if (!dw) dwl = nullptr;
            else if (shared_dw) dwl = dw_rows.data() + size_t(r) * nw;
            else {
                dwl = dw + (r * nl + l) * size_t(nw);
                std::fill(dwl, dwl + nw, 0.0);
            }
            double* dxl = dx ? dx + (r * nl + l) * size_t(nx) : nullptr;
            if (dxl) std::fill(dxl, dxl + nx, 0.0);
            c.chain(g + size_t(l) * na, dwl, dxl);
        }
    }

    template <class F>
    void adjoint_rows(const Batch& b, const double* cot, double* vals, double* dw, double* dx) {
        const Circuit& c = program.circuit();
        const int no = int(obs.size()), na = c.n_angles(), nw = c.n_weights();
        const int nl = cot ? 1 : no;
        const bool shared_dw = cot && !b.weights_per_row;
        std::vector<double> dw_rows(shared_dw && dw ? size_t(b.rows) * nw : 0, 0.0);
        std::vector<double> g(size_t(nl) * na);
        const size_t stop = program.first_trainable_op();
        const int nq = n();
        const size_t sbytes = (size_t(1) << nq) * sizeof(F) * 2;
        auto sweep = [&](int64_t r) {
            void* phi = state_ptr<F>(0);
            values_row<F>(0, vals + r * no);
            check(cudaMemset(state_ptr<F>(1), 0, sbytes * size_t(nl)), "clearing the adjoint states");
            for (int o = 0; o < no; ++o) {
                const double w = cot ? cot[r * no + o] : 1.0;
                if (w == 0.0) continue;
                void* lam = state_ptr<F>(1 + (cot ? 0 : o));
                for (int t = obs_start[size_t(o)]; t < obs_start[size_t(o) + 1]; ++t)
                    accumulate_pauli<F>(phi, nq, terms[size_t(t)], w, lam);
            }
            check(cudaMemset(d_dangles.p, 0, g.size() * sizeof(double)), "clearing the angle gradients");
            const cplx* dm = d_mats.as<cplx>();
            double* dg = d_dangles.as<double>();
            for (size_t op = program.n_ops(); op-- > stop;) {
                const DevOp& k = ops[op];
                for (int l = 0; l < nl; ++l) {
                    void* lam = state_ptr<F>(1 + l);
                    if (k.trainable_mask) {
                        adjoint_step<F>(phi, lam, nq, k, dm, l == 0, op > stop, d_partials.as<double>(),
                                        dg + size_t(l) * na + k.angle_offset);
                    } else {
                        if (l == 0) apply_op<F>(phi, nq, k, dm + k.inv);
                        if (op > stop) apply_op<F>(lam, nq, k, dm + k.inv);
                    }
                }
            }
            download(g.data(), d_dangles.p, g.size() * sizeof(double), "reading the angle gradients");
            chain_row(b, r, g.data(), nl, shared_dw, dw, dx, dw_rows);
        };
        for_rows<F>(b, 1 + nl, true, nl, std::to_string(1 + nl) + " state vector(s) of " + std::to_string(nq) + " wires",
                    sweep);
        if (shared_dw && dw) {
            std::fill(dw, dw + nw, 0.0);
            for (int64_t r = 0; r < b.rows; ++r)
                for (int k = 0; k < nw; ++k) dw[k] += dw_rows[size_t(r) * nw + k];
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Many rows per launch
    // ---------------------------------------------------------------------------------------------

    template <class F>
    void batch_rows(const Batch& b, const double* cot, bool grads, double* vals, double* dw, double* dx) {
        const Circuit& c = program.circuit();
        const int no = int(obs.size()), na = c.n_angles(), nw = c.n_weights();
        const int nl = !grads ? 0 : (cot ? 1 : no);
        const bool shared_dw = cot && !b.weights_per_row;
        const size_t st = stride(grads);
        const int states = 1 + nl;
        // Rows per launch: bounded so that the matrices of a chunk stay around 256 MB.
        const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(b.rows, int64_t((256u << 20) / (st * 16 + 1))));
        const BatchGeometry geo = batch_geometry<F>(n(), states, chunk);
        const double scratch = geo.shared ? 0.0
                                          : double(geo.blocks) * geo.warps_per_block * states *
                                                std::ldexp(double(amp_bytes()), n());
        const double per_row = double(st) * 16.0 + 8.0 * (no + (cot ? no : 0) + double(nl) * na);
        guard(scratch + double(chunk) * per_row, "a batch of " + std::to_string(chunk) + " row(s) of " +
                                                     std::to_string(n()) + " wires");
        d_mats.ensure(size_t(chunk) * st * sizeof(cplx), "allocating the gate matrices");
        d_vals.ensure(size_t(chunk) * std::max(no, 1) * sizeof(double), "allocating the values");
        if (grads) d_dangles.ensure(size_t(chunk) * std::max(1, nl * na) * sizeof(double), "allocating the gradients");
        if (cot) d_cot.ensure(size_t(chunk) * std::max(no, 1) * sizeof(double), "allocating the cotangents");
        if (!geo.shared) d_scratch.ensure(size_t(scratch), "allocating the batch states");

        BatchArgs a;
        a.mode = !grads ? BatchArgs::Values : (cot ? BatchArgs::Vjp : BatchArgs::Jacobian);
        a.n = n();
        a.fwd = d_fwd.as<DevOp>();
        a.n_fwd = int(fwd.size());
        a.ops = d_ops.as<DevOp>();
        a.n_ops = int(ops.size());
        a.stop = int(program.first_trainable_op());
        a.terms = d_terms.as<DevTerm>();
        a.obs_start = d_obs_start.as<int>();
        a.n_obs = no;
        a.n_angles = na;
        a.mats = d_mats.p;
        a.stride = int64_t(st);
        a.vals = d_vals.as<double>();
        a.dangles = grads ? d_dangles.as<double>() : nullptr;
        a.cot = cot ? d_cot.as<double>() : nullptr;
        a.scratch = geo.shared ? nullptr : d_scratch.p;

        std::vector<cplx> buf;
        std::vector<double> g;
        std::vector<double> dw_rows(shared_dw && dw ? size_t(b.rows) * nw : 0, 0.0);
        for (int64_t r0 = 0; r0 < b.rows; r0 += chunk) {
            const int64_t cnt = std::min(chunk, b.rows - r0);
            bind_rows(b, r0, cnt, grads, buf);
            upload(d_mats, buf.data(), buf.size() * sizeof(cplx), "uploading the gate matrices");
            if (cot) upload(d_cot, cot + r0 * no, size_t(cnt) * no * sizeof(double), "uploading the cotangents");
            a.rows = cnt;
            run_batch<F>(a, geo);
            download(vals + r0 * no, d_vals.p, size_t(cnt) * no * sizeof(double), "reading the values");
            if (!grads) continue;
            g.resize(size_t(cnt) * nl * na);
            download(g.data(), d_dangles.p, g.size() * sizeof(double), "reading the angle gradients");
#pragma omp parallel for schedule(static) if (cnt > 256)
            for (int64_t j = 0; j < cnt; ++j)
                chain_row(b, r0 + j, g.data() + size_t(j) * nl * na, nl, shared_dw, dw, dx, dw_rows);
        }
        if (shared_dw && dw) {
            std::fill(dw, dw + nw, 0.0);
            for (int64_t r = 0; r < b.rows; ++r)
                for (int k = 0; k < nw; ++k) dw[k] += dw_rows[size_t(r) * nw + k];
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Calls
    // ---------------------------------------------------------------------------------------------

    template <class F>
    void expval_t(const Batch& b, double* out) {
        if (use_batch(b.rows)) return batch_rows<F>(b, nullptr, false, out, nullptr, nullptr);
        const int no = int(obs.size());
        for_rows<F>(b, 1, false, 0, "a state vector of " + std::to_string(n()) + " wires",
                    [&](int64_t r) { values_row<F>(0, out + r * no); });
    }

    template <class F>
    void adjoint_t(const Batch& b, const double* cot, double* vals, double* dw, double* dx) {
        if (use_batch(b.rows)) return batch_rows<F>(b, cot, true, vals, dw, dx);
        adjoint_rows<F>(b, cot, vals, dw, dx);
    }

    template <class F>
    void var_t(const Batch& b, double* out) {
        const int no = int(obs.size()), nq = n();
        const size_t sbytes = (size_t(1) << nq) * sizeof(F) * 2;
        std::vector<double> mean(static_cast<size_t>(no));
        for_rows<F>(b, 2, false, 0, "2 state vectors of " + std::to_string(nq) + " wires", [&](int64_t r) {
            values_row<F>(0, mean.data());
            for (int o = 0; o < no; ++o) {
                void* h = state_ptr<F>(1);
                check(cudaMemset(h, 0, sbytes), "clearing H psi");
                for (int t = obs_start[size_t(o)]; t < obs_start[size_t(o) + 1]; ++t)
                    accumulate_pauli<F>(state_ptr<F>(0), nq, terms[size_t(t)], 1.0, h);
                double sq = 0.0;
                norm_sq<F>(h, nq, d_partials.as<double>(), d_small.as<double>());
                download(&sq, d_small.p, sizeof(double), "reading <H^2>");
                out[r * no + o] = sq - mean[size_t(o)] * mean[size_t(o)];
            }
        });
    }

    template <class F>
    void state_t(const Batch& b, cplx* out) {
        const size_t size = size_t(1) << n();
        std::vector<std::complex<F>> host(std::is_same<F, double>::value ? 0 : size);
        for_rows<F>(b, 1, false, 0, "a state vector of " + std::to_string(n()) + " wires", [&](int64_t r) {
            if constexpr (std::is_same<F, double>::value) {
                download(out + size_t(r) * size, state_ptr<F>(0), size * sizeof(cplx), "reading the state");
            } else {
                download(host.data(), state_ptr<F>(0), size * sizeof(std::complex<F>), "reading the state");
                for (size_t i = 0; i < size; ++i) out[size_t(r) * size + i] = cplx(host[i]);
            }
        });
    }

    template <class F>
    void probs_t(const Batch& b, const std::vector<int>& wires, double* out) {
        const int nq = n(), k = int(wires.size());
        std::vector<int> bits;
        for (int w : wires) {
            PYQML_REQUIRE(w >= 0 && w < nq, "probs: wire " + std::to_string(w) + " out of range");
            bits.push_back(bit_of_wire(nq, w));
        }
        const size_t dim = size_t(1) << k;
        DeviceBuffer d_out;
        d_out.ensure(dim * sizeof(double), "allocating the probabilities");
        for_rows<F>(b, 1, false, 0, "a state vector of " + std::to_string(nq) + " wires", [&](int64_t r) {
            marginal_probs<F>(state_ptr<F>(0), nq, bits.data(), k, d_out.as<double>());
            download(out + size_t(r) * dim, d_out.p, dim * sizeof(double), "reading the probabilities");
        });
    }
};

StateVector::StateVector(const Circuit& circuit, std::vector<Observable> observables, Precision precision, int device)
    : impl_(std::make_unique<Impl>(circuit, std::move(observables), precision, device)) {}

StateVector::~StateVector() = default;

const sv::Program& StateVector::program() const { return impl_->program; }
int StateVector::n_observables() const { return int(impl_->obs.size()); }
int StateVector::device() const { return impl_->device; }
bool StateVector::batched(int64_t rows) const { return impl_->use_batch(rows); }

// One call at a time per object (its workspaces are shared), on its device.
#define PYQML_GPU_CALL(fn, ...)                                                \
    do {                                                                       \
        std::lock_guard<std::mutex> lock(impl_->mutex);                        \
        check(cudaSetDevice(impl_->device), "cudaSetDevice");                  \
        if (impl_->precision == Precision::Double) impl_->fn<double>(__VA_ARGS__); \
        else impl_->fn<float>(__VA_ARGS__);                                    \
    } while (0)

void StateVector::expval(const Batch& b, double* out) const {
    PYQML_REQUIRE(b.rows >= 0, "negative batch size");
    PYQML_GPU_CALL(expval_t, b, out);
}

void StateVector::var(const Batch& b, double* out) const {
    PYQML_GPU_CALL(var_t, b, out);
}

void StateVector::jacobian(const Batch& b, double* vals, double* dw, double* dx) const {
    PYQML_GPU_CALL(adjoint_t, b, nullptr, vals, dw, dx);
}

void StateVector::vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const {
    PYQML_REQUIRE(cot != nullptr, "vjp needs a cotangent");
    PYQML_GPU_CALL(adjoint_t, b, cot, vals, dw, dx);
}

void StateVector::state(const Batch& b, cplx* out) const {
    PYQML_GPU_CALL(state_t, b, out);
}

void StateVector::probs(const Batch& b, const std::vector<int>& wires, double* out) const {
    PYQML_GPU_CALL(probs_t, b, wires, out);
}

void StateVector::sample(const Batch& b, const std::vector<int>& wires, int64_t shots, uint64_t seed,
                         int8_t* out) const {
    PYQML_REQUIRE(shots >= 1, "shots must be a positive integer, got " + std::to_string(shots));
    const int k = static_cast<int>(wires.size());
    PYQML_REQUIRE(k >= 1 && k <= 30, "sample: between 1 and 30 wires");
    const size_t dim = size_t(1) << k;
    ResultReservation scratch((double(b.rows) + 1.0) * double(dim) * sizeof(double),
                              "sample: probabilities and distribution of " + std::to_string(b.rows) + " row(s) x 2^" +
                                  std::to_string(k));
    std::vector<double> p(size_t(b.rows) * dim);
    probs(b, wires, p.data());
    sv::sample_from_probs(p.data(), b.rows, k, shots, seed, out);
}

// ---------------------------------------------------------------------------------------------------
// Bandwidth probes
// ---------------------------------------------------------------------------------------------------

namespace {
struct Events {
    cudaEvent_t a = nullptr, b = nullptr;
    Events() {
        check(cudaEventCreate(&a), "cudaEventCreate");
        check(cudaEventCreate(&b), "cudaEventCreate");
    }
    ~Events() {
        cudaEventDestroy(a);
        cudaEventDestroy(b);
    }
    double seconds() const {
        check(cudaEventSynchronize(b), "cudaEventSynchronize");
        float ms = 0;
        check(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
        return ms * 1e-3;
    }
};

void prepare(int device, double bytes) {
    std::string why;
    if (!available(&why)) throw InvalidInput(why);
    check(cudaSetDevice(device), "cudaSetDevice");
    size_t f = 0, t = 0;
    check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
    if (bytes > double(f))
        throw MemoryLimitExceeded("bench: " + std::to_string((long long)bytes) + " bytes over the free device memory of " +
                                      std::to_string((long long)f),
                                  bytes, double(f));
}
}  // namespace

double bench_copy_gbps(int device, double bytes, int reps) {
    PYQML_REQUIRE(bytes >= 1 && reps >= 1, "bench_copy_gbps: positive bytes and reps");
    prepare(device, 2 * bytes);
    DeviceBuffer src, dst;
    src.ensure(size_t(bytes), "allocating the copy source");
    dst.ensure(size_t(bytes), "allocating the copy target");
    check(cudaMemset(src.p, 0, size_t(bytes)), "cudaMemset");
    check(cudaMemcpy(dst.p, src.p, size_t(bytes), cudaMemcpyDeviceToDevice), "warm-up copy");
    Events ev;
    check(cudaEventRecord(ev.a), "cudaEventRecord");
    for (int r = 0; r < reps; ++r)
        check(cudaMemcpyAsync(dst.p, src.p, size_t(bytes), cudaMemcpyDeviceToDevice), "device-to-device copy");
    check(cudaEventRecord(ev.b), "cudaEventRecord");
    return 2.0 * bytes * reps / ev.seconds() / 1e9;
}

template <class F>
static double gate_gbps(int n, const std::string& kind, int target, int reps) {
    PYQML_REQUIRE(n >= 3 && target >= 0 && target < n, "bench_gate_gbps: 3 or more wires and a target bit below n");
    const int other = target == 0 ? 1 : 0;
    DevOp op;
    std::vector<cplx> m(16, cplx(0));
    const double c = std::cos(0.3), s = std::sin(0.3);
    if (kind == "dense1" || kind == "controlled1") {
        op.kind = DevOp::Dense;
        op.nt = 1;
        op.nc = kind == "controlled1" ? 1 : 0;
        op.nsorted = 1 + op.nc;
        op.sorted[0] = target;
        if (op.nc) {
            op.sorted[0] = std::min(target, other);
            op.sorted[1] = std::max(target, other);
            op.cmask = uint64_t(1) << other;
        }
        op.offs[1] = uint64_t(1) << target;
        m[0] = c; m[1] = cplx(0, -s); m[2] = cplx(0, -s); m[3] = c;
        op.mat_size = 4;
    } else if (kind == "dense2") {
        op.kind = DevOp::Dense;
        op.nt = 2;
        op.nsorted = 2;
        op.sorted[0] = std::min(target, other);
        op.sorted[1] = std::max(target, other);
        op.offs[1] = uint64_t(1) << other;
        op.offs[2] = uint64_t(1) << target;
        op.offs[3] = op.offs[1] | op.offs[2];
        for (int i = 0; i < 4; ++i) m[i * 5] = c;
        m[3] = m[6] = m[9] = m[12] = cplx(0, -s);
        op.mat_size = 16;
    } else if (kind == "diagonal1") {
        op.kind = DevOp::Diagonal;
        op.nt = 1;
        op.bits[0] = target;
        m[0] = std::polar(1.0, -0.15);
        m[1] = std::polar(1.0, 0.15);
        op.mat_size = 2;
    } else {
        throw InvalidInput("bench_gate_gbps: kind must be dense1, dense2, controlled1 or diagonal1, got " + kind);
    }
    const double state = std::ldexp(double(sizeof(F) * 2), n);
    DeviceBuffer psi, dm;
    psi.ensure(size_t(state), "allocating the bench state");
    upload(dm, m.data(), m.size() * sizeof(cplx), "uploading the bench matrix");
    set_basis_zero<F>(psi.p, n);
    apply_op<F>(psi.p, n, op, dm.p);  // warm-up
    Events ev;
    check(cudaEventRecord(ev.a), "cudaEventRecord");
    for (int r = 0; r < reps; ++r) apply_op<F>(psi.p, n, op, dm.p);
    check(cudaEventRecord(ev.b), "cudaEventRecord");
    // A controlled gate reads and writes only the half with the control set.
    const double touched = kind == "controlled1" ? 0.5 : 1.0;
    return 2.0 * state * touched * reps / ev.seconds() / 1e9;
}

double bench_gate_gbps(int device, int n, Precision precision, const std::string& kind, int target, int reps) {
    PYQML_REQUIRE(reps >= 1, "bench_gate_gbps: reps >= 1");
    prepare(device, std::ldexp(precision == Precision::Double ? 16.0 : 8.0, n));
    return precision == Precision::Double ? gate_gbps<double>(n, kind, target, reps)
                                          : gate_gbps<float>(n, kind, target, reps);
}

}  // namespace pyqml::cuda
