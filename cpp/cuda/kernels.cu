// The CUDA state-vector kernels (interface and conventions in kernels.hpp).
//
// Every kernel body is a device function over a range of work items (t0, t0 + st, ...): the one-state
// kernels run it with the whole grid's threads, the batch kernel with the 32 lanes of the warp that owns
// a row. Reductions sum in double, per thread, then per warp with shuffles, then per block through shared
// memory into one partial per block; a second launch adds the partials in block order, so every result is
// reproducible run to run.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels.hpp"

namespace pyqml::cuda {

void check(int code, const char* what) {
    if (code != cudaSuccess) {
        const auto e = static_cast<cudaError_t>(code);
        throw CudaError(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e) + " (" +
                        cudaGetErrorName(e) + ")");
    }
}

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 1 << 16;

template <class F>
struct alignas(2 * sizeof(F)) Cx {
    F x, y;
};
using Cd = Cx<double>;

template <class F, class G>
__device__ __forceinline__ Cx<F> cvt(const Cx<G>& a) {
    return Cx<F>{F(a.x), F(a.y)};
}
template <class F>
__device__ __forceinline__ Cx<F> cmul(const Cx<F>& a, const Cx<F>& b) {
    return Cx<F>{a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x};
}
// acc + a * b
template <class F>
__device__ __forceinline__ Cx<F> cfma(const Cx<F>& a, const Cx<F>& b, const Cx<F>& acc) {
    return Cx<F>{fma(a.x, b.x, fma(-a.y, b.y, acc.x)), fma(a.x, b.y, fma(a.y, b.x, acc.y))};
}
// Re(conj(a) * b)
template <class F>
__device__ __forceinline__ double re_conj_mul(const Cx<F>& a, const Cx<double>& b) {
    return double(a.x) * b.x + double(a.y) * b.y;
}

// Spreads the bits of g over the positions not in sorted[0..k) (ascending).
__device__ __forceinline__ uint64_t spread(uint64_t g, const int* sorted, int k) {
    for (int a = 0; a < k; ++a) {
        const uint64_t low = (uint64_t(1) << sorted[a]) - 1;
        g = ((g & ~low) << 1) | (g & low);
    }
    return g;
}

__device__ __forceinline__ unsigned local_index(uint64_t i, const int* bits, int k) {
    unsigned local = 0;
    for (int a = 0; a < k; ++a) local = (local << 1) | unsigned((i >> bits[a]) & 1u);
    return local;
}

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;  // lane 0 holds the total
}

// partials[blockIdx.x * NV + q] = sum over the block of v[q].
template <int NV>
__device__ void block_store(const double (&v)[NV], double* partials) {
    __shared__ double s[NV][32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    for (int q = 0; q < NV; ++q) {
        const double t = warp_sum(v[q]);
        if (lane == 0) s[q][wid] = t;
    }
    __syncthreads();
    if (wid == 0)
        for (int q = 0; q < NV; ++q) {
            const double t = warp_sum(lane < nw ? s[q][lane] : 0.0);
            if (lane == 0) partials[size_t(blockIdx.x) * NV + q] = t;
        }
}

// ------------------------------------------------------------------------------------------------
// Bodies
// ------------------------------------------------------------------------------------------------

template <class F, int NT>
__device__ void dense_range(Cx<F>* psi, const DevOp& op, const Cd* m, int64_t groups, int64_t t0, int64_t st) {
    constexpr int D = 1 << NT;
    const int ns = op.nsorted;
    const uint64_t cmask = op.cmask;
    if constexpr (NT <= 2) {
        Cx<F> mm[D * D];
        uint64_t offs[D];
        for (int i = 0; i < D * D; ++i) mm[i] = cvt<F>(m[i]);
        for (int r = 0; r < D; ++r) offs[r] = op.offs[r];
        for (int64_t g = t0; g < groups; g += st) {
            const uint64_t base = spread(uint64_t(g), op.sorted, ns) | cmask;
            Cx<F> v[D];
            for (int r = 0; r < D; ++r) v[r] = psi[base | offs[r]];
            for (int r = 0; r < D; ++r) {
                Cx<F> acc{0, 0};
                for (int c = 0; c < D; ++c) acc = cfma(mm[r * D + c], v[c], acc);
                psi[base | offs[r]] = acc;
            }
        }
    } else {
        for (int64_t g = t0; g < groups; g += st) {
            const uint64_t base = spread(uint64_t(g), op.sorted, ns) | cmask;
            Cx<F> v[D];
            for (int r = 0; r < D; ++r) v[r] = psi[base | op.offs[r]];
            for (int r = 0; r < D; ++r) {
                Cx<F> acc{0, 0};
                for (int c = 0; c < D; ++c) acc = cfma(cvt<F>(m[r * D + c]), v[c], acc);
                psi[base | op.offs[r]] = acc;
            }
        }
    }
}

template <class F>
__device__ void diag_range(Cx<F>* psi, const DevOp& op, const Cd* d, int64_t size, int64_t t0, int64_t st) {
    if (op.nt == 1) {
        const Cx<F> d0 = cvt<F>(d[0]), d1 = cvt<F>(d[1]);
        const uint64_t mask = uint64_t(1) << op.bits[0];
        for (int64_t i = t0; i < size; i += st) psi[i] = cmul((uint64_t(i) & mask) ? d1 : d0, psi[i]);
    } else if (op.nt == 2) {
        const Cx<F> dd[4] = {cvt<F>(d[0]), cvt<F>(d[1]), cvt<F>(d[2]), cvt<F>(d[3])};
        const int b0 = op.bits[0], b1 = op.bits[1];
        for (int64_t i = t0; i < size; i += st) {
            const unsigned l = unsigned(((uint64_t(i) >> b0) & 1u) << 1 | ((uint64_t(i) >> b1) & 1u));
            psi[i] = cmul(dd[l], psi[i]);
        }
    } else {
        for (int64_t i = t0; i < size; i += st)
            psi[i] = cmul(cvt<F>(d[local_index(uint64_t(i), op.bits, op.nt)]), psi[i]);
    }
}

template <class F>
__device__ void apply_range(Cx<F>* psi, const DevOp& op, const Cd* m, int n, int64_t t0, int64_t st) {
    const int64_t size = int64_t(1) << n;
    if (op.kind == DevOp::Diagonal) {
        diag_range<F>(psi, op, m, size, t0, st);
        return;
    }
    const int64_t groups = size >> op.nsorted;
    switch (op.nt) {
        case 1: dense_range<F, 1>(psi, op, m, groups, t0, st); break;
        case 2: dense_range<F, 2>(psi, op, m, groups, t0, st); break;
        default: dense_range<F, 3>(psi, op, m, groups, t0, st); break;
    }
}

// sum_i sign_z(i) conj(psi[i ^ x]) psi[i], added into (re, im).
template <class F>
__device__ void pauli_range(const Cx<F>* psi, uint64_t x, uint64_t z, int64_t size, int64_t t0, int64_t st,
                            double& re, double& im) {
    if (x == 0) {
        for (int64_t i = t0; i < size; i += st) {
            const Cx<F> b = psi[i];
            const double v = double(b.x) * b.x + double(b.y) * b.y;
            re += (__popcll(uint64_t(i) & z) & 1) ? -v : v;
        }
        return;
    }
    for (int64_t i = t0; i < size; i += st) {
        const Cx<F> a = psi[uint64_t(i) ^ x], b = psi[i];
        const double vr = double(a.x) * b.x + double(a.y) * b.y;
        const double vi = double(a.x) * b.y - double(a.y) * b.x;
        if (__popcll(uint64_t(i) & z) & 1) {
            re -= vr;
            im -= vi;
        } else {
            re += vr;
            im += vi;
        }
    }
}

// out[i ^ x] += coef * sign_z(i) * psi[i]: i -> i ^ x is a bijection, so no two items write one entry.
template <class F>
__device__ void accumulate_range(const Cx<F>* psi, uint64_t x, uint64_t z, Cx<F> coef, Cx<F>* out, int64_t size,
                                 int64_t t0, int64_t st) {
    const Cx<F> mcoef{-coef.x, -coef.y};
    for (int64_t i = t0; i < size; i += st) {
        const uint64_t j = uint64_t(i) ^ x;
        out[j] = cfma((__popcll(uint64_t(i) & z) & 1) ? mcoef : coef, psi[i], out[j]);
    }
}

// One fused adjoint step of a dense op on NT targets: phi <- U^dag phi (if up_phi), acc[q] += Re <lam| dU_q |phi>,
// lam <- U^dag lam (if up_lam), group by group.
template <class F, int NT>
__device__ void adjoint_dense_range(Cx<F>* phi, Cx<F>* lam, const DevOp& op, const Cd* uinv, const Cd* dm,
                                    bool up_phi, bool up_lam, int64_t groups, int64_t t0, int64_t st,
                                    double (&acc)[3]) {
    constexpr int D = 1 << NT;
    Cx<F> ui[D * D];
    uint64_t offs[D];
    for (int i = 0; i < D * D; ++i) ui[i] = cvt<F>(uinv[i]);
    for (int r = 0; r < D; ++r) offs[r] = op.offs[r];
    const unsigned mask = op.trainable_mask;
    for (int64_t g = t0; g < groups; g += st) {
        const uint64_t base = spread(uint64_t(g), op.sorted, op.nsorted) | op.cmask;
        Cx<F> p[D], l[D];
        for (int r = 0; r < D; ++r) p[r] = phi[base | offs[r]];
        if (up_phi) {
            Cx<F> q[D];
            for (int r = 0; r < D; ++r) {
                Cx<F> a{0, 0};
                for (int c = 0; c < D; ++c) a = cfma(ui[r * D + c], p[c], a);
                q[r] = a;
            }
            for (int r = 0; r < D; ++r) {
                p[r] = q[r];
                phi[base | offs[r]] = q[r];
            }
        }
        for (int r = 0; r < D; ++r) l[r] = lam[base | offs[r]];
        for (int k = 0; k < 3; ++k) {
            if (!(mask & (1u << k))) continue;
            const Cd* d = dm + k * D * D;
            double s = 0.0;
            for (int r = 0; r < D; ++r) {
                Cd t{0, 0};
                for (int c = 0; c < D; ++c) t = cfma(d[r * D + c], cvt<double>(p[c]), t);
                s += re_conj_mul(l[r], t);
            }
            acc[k] += s;
        }
        if (up_lam) {
            for (int r = 0; r < D; ++r) {
                Cx<F> a{0, 0};
                for (int c = 0; c < D; ++c) a = cfma(ui[r * D + c], l[c], a);
                lam[base | offs[r]] = a;
            }
        }
    }
}

template <class F>
__device__ void adjoint_diag_range(Cx<F>* phi, Cx<F>* lam, const DevOp& op, const Cd* dinv, const Cd* dm,
                                   bool up_phi, bool up_lam, int64_t size, int64_t t0, int64_t st,
                                   double (&acc)[3]) {
    const unsigned mask = op.trainable_mask;
    const int ms = op.mat_size;
    for (int64_t i = t0; i < size; i += st) {
        const unsigned loc = local_index(uint64_t(i), op.bits, op.nt);
        const Cx<F> di = cvt<F>(dinv[loc]);
        Cx<F> p = phi[i];
        if (up_phi) {
            p = cmul(di, p);
            phi[i] = p;
        }
        const Cx<F> l = lam[i];
        const Cd pd = cvt<double>(p);
        for (int k = 0; k < 3; ++k)
            if (mask & (1u << k)) acc[k] += re_conj_mul(l, cmul(dm[k * ms + loc], pd));
        if (up_lam) lam[i] = cmul(di, l);
    }
}

template <class F>
__device__ void adjoint_range(Cx<F>* phi, Cx<F>* lam, const DevOp& op, const Cd* mats, bool up_phi, bool up_lam,
                              int n, int64_t t0, int64_t st, double (&acc)[3]) {
    const int64_t size = int64_t(1) << n;
    const Cd* uinv = mats + op.inv;
    const Cd* dm = mats + op.dmat;
    if (op.kind == DevOp::Diagonal) {
        adjoint_diag_range<F>(phi, lam, op, uinv, dm, up_phi, up_lam, size, t0, st, acc);
    } else if (op.nt == 1) {
        adjoint_dense_range<F, 1>(phi, lam, op, uinv, dm, up_phi, up_lam, size >> op.nsorted, t0, st, acc);
    } else {
        adjoint_dense_range<F, 2>(phi, lam, op, uinv, dm, up_phi, up_lam, size >> op.nsorted, t0, st, acc);
    }
}

// ------------------------------------------------------------------------------------------------
// One-state kernels
// ------------------------------------------------------------------------------------------------

inline int blocks_for(int64_t work, int cap) {
    const int64_t b = (work + kThreads - 1) / kThreads;
    return int(std::max<int64_t>(1, std::min<int64_t>(b, cap)));
}

__device__ __forceinline__ int64_t gtid() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t gstride() { return int64_t(gridDim.x) * blockDim.x; }

// Copies up to 64 matrix entries into shared memory (gate matrices are read by every thread).
__device__ const Cd* stage(Cd* sm, const Cd* m, int count) {
    if (count > 64) return m;
    for (int i = threadIdx.x; i < count; i += blockDim.x) sm[i] = m[i];
    __syncthreads();
    return sm;
}

template <class F>
__global__ void k_basis_zero(Cx<F>* psi, int64_t size) {
    for (int64_t i = gtid(); i < size; i += gstride()) psi[i] = Cx<F>{F(i == 0 ? 1 : 0), F(0)};
}

// One kernel per kind and width, so that the common 2x2 kernel carries no registers of the wider ones.
template <class F, int NT>
__global__ void k_dense(Cx<F>* psi, int64_t groups, const __grid_constant__ DevOp op, const Cd* m) {
    __shared__ Cd sm[64];
    const Cd* mm = stage(sm, m, op.mat_size);
    dense_range<F, NT>(psi, op, mm, groups, gtid(), gstride());
}

template <class F>
__global__ void k_diag(Cx<F>* psi, int64_t size, const __grid_constant__ DevOp op, const Cd* m) {
    __shared__ Cd sm[64];
    const Cd* mm = stage(sm, m, op.mat_size);
    diag_range<F>(psi, op, mm, size, gtid(), gstride());
}

template <class F>
__global__ void k_pauli(const Cx<F>* psi, int64_t size, const DevTerm* terms, double* partials) {
    const DevTerm t = terms[blockIdx.y];
    double v[2] = {0.0, 0.0};
    pauli_range<F>(psi, t.xmask, t.zmask, size, gtid(), gstride(), v[0], v[1]);
    block_store<2>(v, partials + size_t(blockIdx.y) * gridDim.x * 2);
}

template <class F>
__global__ void k_accumulate(const Cx<F>* psi, int64_t size, uint64_t x, uint64_t z, Cx<F> coef, Cx<F>* out) {
    accumulate_range<F>(psi, x, z, coef, out, size, gtid(), gstride());
}

template <class F>
__global__ void k_norm(const Cx<F>* a, int64_t size, double* partials) {
    double v[1] = {0.0};
    for (int64_t i = gtid(); i < size; i += gstride()) v[0] += double(a[i].x) * a[i].x + double(a[i].y) * a[i].y;
    block_store<1>(v, partials);
}

template <class F>
__global__ void k_adjoint(Cx<F>* phi, Cx<F>* lam, int n, const __grid_constant__ DevOp op, const Cd* mats, bool up_phi,
                          bool up_lam,
                          double* partials) {
    double acc[3] = {0.0, 0.0, 0.0};
    adjoint_range<F>(phi, lam, op, mats, up_phi, up_lam, n, gtid(), gstride(), acc);
    block_store<3>(acc, partials);
}

// out[seg * nv + q] = scale * sum_b partials[(seg * nb + b) * nv + q] for the q in mask; one block per segment.
__global__ void k_sum_partials(const double* partials, int nb, int nv, double scale, unsigned mask, double* out) {
    const double* p = partials + size_t(blockIdx.x) * nb * nv;
    for (int q = 0; q < nv; ++q) {
        double v[1] = {0.0};
        for (int b = threadIdx.x; b < nb; b += blockDim.x) v[0] += p[size_t(b) * nv + q];
        __shared__ double tot[1];
        const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
        __shared__ double s[32];
        const double t = warp_sum(v[0]);
        if (lane == 0) s[wid] = t;
        __syncthreads();
        if (wid == 0) {
            const double u = warp_sum(lane < nw ? s[lane] : 0.0);
            if (lane == 0) tot[0] = u;
        }
        __syncthreads();
        if (threadIdx.x == 0 && (mask & (1u << q))) out[size_t(blockIdx.x) * nv + q] = scale * tot[0];
        __syncthreads();
    }
}

struct ProbsArgs {
    int k;
    int bits[64];    // output bit a (high first) -> state bit
    int sorted[64];  // the same bits ascending
};

template <class F>
__global__ void k_probs(const Cx<F>* psi, const __grid_constant__ ProbsArgs a, int64_t rest, int cpb, double* partials) {
    const int64_t bin = blockIdx.x / cpb, chunk = blockIdx.x % cpb;
    uint64_t scatter = 0;
    for (int q = 0; q < a.k; ++q)
        if ((uint64_t(bin) >> (a.k - 1 - q)) & 1u) scatter |= uint64_t(1) << a.bits[q];
    double v[1] = {0.0};
    for (int64_t r = chunk * blockDim.x + threadIdx.x; r < rest; r += int64_t(cpb) * blockDim.x) {
        const Cx<F> b = psi[spread(uint64_t(r), a.sorted, a.k) | scatter];
        v[0] += double(b.x) * b.x + double(b.y) * b.y;
    }
    block_store<1>(v, partials);
}

__global__ void k_sum_bins(const double* partials, int cpb, int64_t bins, double* out) {
    for (int64_t b = gtid(); b < bins; b += gstride()) {
        double s = 0.0;
        for (int c = 0; c < cpb; ++c) s += partials[b * cpb + c];
        out[b] = s;
    }
}

// ------------------------------------------------------------------------------------------------
// The batch kernel: one warp per row, the whole circuit
// ------------------------------------------------------------------------------------------------

template <class F>
__global__ void __launch_bounds__(256, 2) k_batch(const __grid_constant__ BatchArgs a, bool shared_states, int64_t per_warp) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int lane = threadIdx.x & 31, wib = threadIdx.x >> 5, wpb = blockDim.x >> 5;
    const int64_t gw = int64_t(blockIdx.x) * wpb + wib, tw = int64_t(gridDim.x) * wpb;
    Cx<F>* st = shared_states ? reinterpret_cast<Cx<F>*>(smem) + wib * per_warp
                              : static_cast<Cx<F>*>(a.scratch) + gw * per_warp;
    const int n = a.n;
    const int64_t size = int64_t(1) << n;
    const int no = a.n_obs, na = a.n_angles;
    const int nl = a.mode == BatchArgs::Jacobian ? no : (a.mode == BatchArgs::Vjp ? 1 : 0);
    for (int64_t row = gw; row < a.rows; row += tw) {
        const Cd* mats = static_cast<const Cd*>(a.mats) + row * a.stride;
        Cx<F>* phi = st;
        for (int64_t i = lane; i < size; i += 32) phi[i] = Cx<F>{F(i == 0 ? 1 : 0), F(0)};
        __syncwarp();
        for (int f = 0; f < a.n_fwd; ++f) {
            const DevOp& op = a.fwd[f];
            apply_range<F>(phi, op, mats + op.mat, n, lane, 32);
            __syncwarp();
        }
        for (int o = 0; o < no; ++o) {
            double tot = 0.0;
            for (int t = a.obs_start[o]; t < a.obs_start[o + 1]; ++t) {
                const DevTerm term = a.terms[t];
                double re = 0.0, im = 0.0;
                pauli_range<F>(phi, term.xmask, term.zmask, size, lane, 32, re, im);
                re = warp_sum(re);
                im = warp_sum(im);
                tot += term.phase_re * re - term.phase_im * im;
            }
            if (lane == 0) a.vals[row * no + o] = tot;
        }
        if (a.mode == BatchArgs::Values) continue;
        for (int64_t i = lane; i < nl * size; i += 32) st[size + i] = Cx<F>{0, 0};
        __syncwarp();
        for (int o = 0; o < no; ++o) {
            const double c = a.mode == BatchArgs::Vjp ? a.cot[row * no + o] : 1.0;
            if (c == 0.0) continue;
            Cx<F>* lam = st + (1 + (a.mode == BatchArgs::Vjp ? 0 : o)) * size;
            for (int t = a.obs_start[o]; t < a.obs_start[o + 1]; ++t) {
                const DevTerm term = a.terms[t];
                const Cx<F> coef{F(term.phase_re * c), F(term.phase_im * c)};
                accumulate_range<F>(phi, term.xmask, term.zmask, coef, lam, size, lane, 32);
                __syncwarp();
            }
        }
        double* dang = a.dangles + row * int64_t(nl) * na;
        for (int i = lane; i < nl * na; i += 32) dang[i] = 0.0;
        __syncwarp();
        for (int op = a.n_ops - 1; op >= a.stop; --op) {
            const DevOp& k = a.ops[op];
            for (int l = 0; l < nl; ++l) {
                Cx<F>* lam = st + (1 + l) * size;
                if (k.trainable_mask) {
                    double acc[3] = {0.0, 0.0, 0.0};
                    adjoint_range<F>(phi, lam, k, mats, l == 0, op > a.stop, n, lane, 32, acc);
                    for (int q = 0; q < 3; ++q) {
                        if (!(k.trainable_mask & (1u << q))) continue;
                        const double s = warp_sum(acc[q]);
                        if (lane == 0) dang[l * na + k.angle_offset + q] = 2.0 * s;
                    }
                } else {
                    if (l == 0) apply_range<F>(phi, k, mats + k.inv, n, lane, 32);
                    if (op > a.stop) apply_range<F>(lam, k, mats + k.inv, n, lane, 32);
                }
                __syncwarp();
            }
        }
    }
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Launchers
// ------------------------------------------------------------------------------------------------

template <class F>
void set_basis_zero(void* psi, int n) {
    const int64_t size = int64_t(1) << n;
    k_basis_zero<F><<<blocks_for(size, kMaxBlocks), kThreads>>>(static_cast<Cx<F>*>(psi), size);
    check(cudaGetLastError(), "the basis-state kernel");
}

template <class F>
void apply_op(void* psi, int n, const DevOp& op, const void* m) {
    auto* p = static_cast<Cx<F>*>(psi);
    const auto* mm = static_cast<const Cd*>(m);
    const int64_t size = int64_t(1) << n;
    if (op.kind == DevOp::Diagonal) {
        k_diag<F><<<blocks_for(size, kMaxBlocks), kThreads>>>(p, size, op, mm);
    } else {
        const int64_t groups = size >> op.nsorted;
        const int nb = blocks_for(groups, kMaxBlocks);
        if (op.nt == 1) k_dense<F, 1><<<nb, kThreads>>>(p, groups, op, mm);
        else if (op.nt == 2) k_dense<F, 2><<<nb, kThreads>>>(p, groups, op, mm);
        else k_dense<F, 3><<<nb, kThreads>>>(p, groups, op, mm);
    }
    check(cudaGetLastError(), "a gate kernel");
}

template <class F>
void pauli_sums(const void* psi, int n, const DevTerm* terms, int n_terms, double* partials, double* out) {
    if (n_terms == 0) return;
    const int64_t size = int64_t(1) << n;
    const int nb = blocks_for(size, kMaxPartials);
    k_pauli<F><<<dim3(nb, n_terms), kThreads>>>(static_cast<const Cx<F>*>(psi), size, terms, partials);
    check(cudaGetLastError(), "the Pauli expectation kernel");
    k_sum_partials<<<n_terms, kThreads>>>(partials, nb, 2, 1.0, 3u, out);
    check(cudaGetLastError(), "the reduction kernel");
}

template <class F>
void accumulate_pauli(const void* psi, int n, const DevTerm& term, double scale, void* out) {
    const int64_t size = int64_t(1) << n;
    const Cx<F> coef{F(term.phase_re * scale), F(term.phase_im * scale)};
    k_accumulate<F><<<blocks_for(size, kMaxBlocks), kThreads>>>(static_cast<const Cx<F>*>(psi), size, term.xmask,
                                                                term.zmask, coef, static_cast<Cx<F>*>(out));
    check(cudaGetLastError(), "the observable kernel");
}

template <class F>
void norm_sq(const void* a, int n, double* partials, double* out) {
    const int64_t size = int64_t(1) << n;
    const int nb = blocks_for(size, kMaxPartials);
    k_norm<F><<<nb, kThreads>>>(static_cast<const Cx<F>*>(a), size, partials);
    check(cudaGetLastError(), "the norm kernel");
    k_sum_partials<<<1, kThreads>>>(partials, nb, 1, 1.0, 1u, out);
    check(cudaGetLastError(), "the reduction kernel");
}

template <class F>
void marginal_probs(const void* psi, int n, const int* bits, int k, double* out) {
    if (k > 62 || k > n) throw CudaError("marginal_probs: too many wires");
    ProbsArgs a{};
    a.k = k;
    for (int q = 0; q < k; ++q) a.bits[q] = a.sorted[q] = bits[q];
    std::sort(a.sorted, a.sorted + k);
    const int64_t bins = int64_t(1) << k, rest = int64_t(1) << (n - k);
    const int threads = rest >= kThreads ? kThreads : 32;
    const int64_t cpb64 = std::max<int64_t>(1, std::min<int64_t>(rest / (int64_t(threads) * 16), 1024));
    const int cpb = int(std::min<int64_t>(cpb64, std::max<int64_t>(1, (int64_t(1) << 30) / bins)));
    double* partials = nullptr;
    check(cudaMalloc(&partials, size_t(bins) * cpb * sizeof(double)), "allocating the probability partials");
    k_probs<F><<<unsigned(bins * cpb), threads>>>(static_cast<const Cx<F>*>(psi), a, rest, cpb, partials);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) {
        k_sum_bins<<<blocks_for(bins, kMaxBlocks), kThreads>>>(partials, cpb, bins, out);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    cudaFree(partials);
    check(e, "the probability kernels");
}

template <class F>
void adjoint_step(void* phi, void* lam, int n, const DevOp& op, const void* mats, bool update_phi, bool update_lam,
                  double* partials, double* out) {
    if (op.kind == DevOp::Dense && op.nt > 2)
        throw CudaError("adjoint step: trainable gates on more than two target wires are not supported");
    const int64_t work = op.kind == DevOp::Diagonal ? (int64_t(1) << n) : (int64_t(1) << (n - op.nsorted));
    const int nb = blocks_for(work, kMaxPartials);
    k_adjoint<F><<<nb, kThreads>>>(static_cast<Cx<F>*>(phi), static_cast<Cx<F>*>(lam), n, op,
                                   static_cast<const Cd*>(mats), update_phi, update_lam, partials);
    check(cudaGetLastError(), "the adjoint kernel");
    k_sum_partials<<<1, kThreads>>>(partials, nb, 3, 2.0, op.trainable_mask, out);
    check(cudaGetLastError(), "the reduction kernel");
}

template <class F>
BatchGeometry batch_geometry(int n, int states_per_row, int64_t rows) {
    int dev = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    int optin = 0, sms = 0;
    check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev), "cudaDeviceGetAttribute");
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
    const size_t per_warp = size_t(states_per_row) * (size_t(1) << n) * sizeof(Cx<F>);
    BatchGeometry g;
    const size_t target = 64 * 1024;  // shared bytes per block aimed at: several blocks per SM
    if (per_warp <= size_t(optin)) {
        g.shared = true;
        g.warps_per_block = int(std::max<size_t>(1, std::min<size_t>(8, target / per_warp)));
        g.shared_bytes = per_warp * g.warps_per_block;
        const int64_t need = (rows + g.warps_per_block - 1) / g.warps_per_block;
        g.blocks = int(std::max<int64_t>(1, std::min<int64_t>(need, 1 << 20)));
    } else {
        g.shared = false;
        g.warps_per_block = 4;
        const int64_t need = (rows + 3) / 4;
        g.blocks = int(std::max<int64_t>(1, std::min<int64_t>(need, int64_t(sms) * 8)));
    }
    return g;
}

template <class F>
void run_batch(const BatchArgs& a, const BatchGeometry& g) {
    if (a.rows == 0) return;
    if (g.shared && g.shared_bytes > 48 * 1024)
        check(cudaFuncSetAttribute(k_batch<F>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(g.shared_bytes)),
              "cudaFuncSetAttribute (shared memory of the batch kernel)");
    const int64_t per_warp = int64_t(a.mode == BatchArgs::Values ? 1
                                     : a.mode == BatchArgs::Vjp  ? 2
                                                                 : 1 + a.n_obs) << a.n;
    k_batch<F><<<g.blocks, 32 * g.warps_per_block, g.shared ? g.shared_bytes : 0>>>(a, g.shared, per_warp);
    check(cudaGetLastError(), "the batch kernel");
}

#define PYQML_CUDA_INSTANTIATE(F)                                                                            \
    template void set_basis_zero<F>(void*, int);                                                            \
    template void apply_op<F>(void*, int, const DevOp&, const void*);                                       \
    template void pauli_sums<F>(const void*, int, const DevTerm*, int, double*, double*);                   \
    template void accumulate_pauli<F>(const void*, int, const DevTerm&, double, void*);                     \
    template void norm_sq<F>(const void*, int, double*, double*);                                           \
    template void marginal_probs<F>(const void*, int, const int*, int, double*);                            \
    template void adjoint_step<F>(void*, void*, int, const DevOp&, const void*, bool, bool, double*, double*); \
    template BatchGeometry batch_geometry<F>(int, int, int64_t);                                            \
    template void run_batch<F>(const BatchArgs&, const BatchGeometry&);

PYQML_CUDA_INSTANTIATE(double)
PYQML_CUDA_INSTANTIATE(float)

}  // namespace pyqml::cuda
