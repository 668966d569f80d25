#pragma once
// Gate kernels on a state vector of 2^n amplitudes. Each kernel walks the amplitudes the gate mixes in
// independent groups, so one loop parallelises cleanly (`par`: spread that loop over OpenMP threads).
//
// Bit positions: wire w of an n-wire register is bit n-1-w. A gate's matrix index has its first wire as
// the most significant bit, so `bits` lists the gate's wires' bit positions in gate order.
//
// Only forward kernels live here (and the loop helpers they share); the overlap kernels of the adjoint
// method are in overlap.hpp.
#include <algorithm>
#include <complex>
#include <cstdint>
#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "pyqml/common/threads.hpp"
#include "pyqml/common/types.hpp"
#include "pyqml/statevector/team.hpp"

namespace pyqml::sv {

// Spread i over the bit positions not in `sorted` (ascending): the base index of the i-th group.
inline index_t insert_zero_bits(index_t i, const int* sorted, int k) {
    for (int a = 0; a < k; ++a) {
        const index_t low = (index_t(1) << sorted[a]) - 1;
        i = ((i & ~low) << 1) | (i & low);
    }
    return i;
}

template <class F>
using amp_t = std::complex<F>;

// Portable builds carry the hottest kernels in several instruction sets and pick one at load time by the
// CPU it runs on (GCC function multi-versioning); -march=native builds (PYQML_NATIVE) need no clones.
// The clones are the x86-64-v4 and x86-64-v3 feature levels (GCC >= 12), not "avx512f" and "avx2": neither
// of those implies FMA (nor "avx512f" AVX512VL), so their kernels ran separate multiplies and adds. The
// resolver tests the levels by CPU features; "arch=haswell" would test the CPU model (lanes.cpp). GCC
// before 12 has no feature levels in target_clones: plain AVX-512F and AVX2 there, without FMA.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PYQML_NATIVE_BUILD)
#if __GNUC__ >= 12
#define PYQML_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYQML_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#else
#define PYQML_SIMD_CLONES
#endif

// Runs body(i) for i in [0, n): across OpenMP threads when `par`, else as a plain loop (no parallel
// region at all, which matters when millions of tiny kernels run inside an outer parallel loop over rows).
// Inside a sweep region (run_sweep, team.hpp) `par` splits the range over that region's team instead of
// opening a region of its own.
template <class Body>
inline void for_range(int64_t n, bool par, Body&& body) {
#ifdef PYQML_HAVE_OPENMP
    if (par) {
        const TeamMember& me = team_member();
        if (me.team) {  // inside a sweep (team.hpp): this thread's static share, then the team's barrier
            int64_t lo, hi;
            team_share(n, me.thread, me.team->size, lo, hi);
            for (int64_t i = lo; i < hi; ++i) body(i);
            me.team->barrier.wait();
            return;
        }
#pragma omp parallel for schedule(static) num_threads(max_threads())
        for (int64_t i = 0; i < n; ++i) body(i);
        return;
    }
#endif
    for (int64_t i = 0; i < n; ++i) body(i);
}


// Below this many wires a state is a few cache lines: the plain per-group loops beat the run-based ones,
// whose vectorised inner loops only pay off on long runs.
constexpr int kRunMinWires = 10;
// ... except on high bits, whose pairs already lie in runs of at least 2^kRunMinBit (the shared suffix's
// unitary, a small register's columns side by side). low_bit: the lowest bit the op acts on or is
// controlled by.
constexpr int kRunMinBit = 3;
inline bool small_state_loop(int n, int low_bit) { return n < kRunMinWires && low_bit < kRunMinBit; }

// Visits the 2^(n-1) amplitude pairs (i0, i0 + 2^bit) of one bit in contiguous runs, so the inner loop has
// unit stride and vectorises: body(p0, p1, len) handles psi[p0 .. p0+len) against psi[p1 .. p1+len).
// Runs are cut to at most kRun pairs so that a high bit still splits into enough parallel work.
template <class Body>
inline void for_pair_runs(int n, int bit, bool par, Body&& body) {
    constexpr index_t kRun = 1024;
    const index_t stride = index_t(1) << bit;
    const index_t run = std::min(stride, kRun);
    const int64_t runs = int64_t((index_t(1) << (n - 1)) / run);
    for_range(runs, par, [&](int64_t r) {
        const index_t g0 = index_t(r) * run;  // first pair of this run, in pair numbering
        const index_t i0 = ((g0 >> bit) << (bit + 1)) | (g0 & (stride - 1));
        body(i0, i0 + stride, run);
    });
}

// A 2x2 matrix m ((re, im) x 4) on one contiguous run of pairs (x[j], y[j]), as real arithmetic on
// interleaved (re, im) values so the compiler vectorises it.
template <class F>
PYQML_SIMD_CLONES void dense1_run(F* __restrict x, F* __restrict y, index_t len, const F* m) {
    const F ar = m[0], ai = m[1], br = m[2], bi = m[3], cr = m[4], ci = m[5], dr = m[6], di = m[7];
    for (index_t j = 0; j < len; ++j) {
        const F xr = x[2 * j], xi = x[2 * j + 1], yr = y[2 * j], yi = y[2 * j + 1];
        x[2 * j] = ar * xr - ai * xi + br * yr - bi * yi;
        x[2 * j + 1] = ar * xi + ai * xr + br * yi + bi * yr;
        y[2 * j] = cr * xr - ci * xi + dr * yr - di * yi;
        y[2 * j + 1] = cr * xi + ci * xr + dr * yi + di * yr;
    }
}

// Dense 2x2 on one bit.
template <class F>
void apply_dense1(amp_t<F>* psi, int n, int bit, const cplx* m, bool par) {
    F mm[8];
    for (int a = 0; a < 4; ++a) {
        mm[2 * a] = F(m[a].real());
        mm[2 * a + 1] = F(m[a].imag());
    }
    if (small_state_loop(n, bit)) {
        const amp_t<F> m00(m[0]), m01(m[1]), m10(m[2]), m11(m[3]);
        const index_t stride = index_t(1) << bit;
        for_range(int64_t(1) << (n - 1), par, [&](int64_t g) {
            const index_t i0 = insert_zero_bits(index_t(g), &bit, 1), i1 = i0 | stride;
            const amp_t<F> a = psi[i0], b = psi[i1];
            psi[i0] = m00 * a + m01 * b;
            psi[i1] = m10 * a + m11 * b;
        });
        return;
    }
    F* base = reinterpret_cast<F*>(psi);
    for_pair_runs(n, bit, par, [&](index_t i0, index_t i1, index_t len) {
        dense1_run<F>(base + 2 * i0, base + 2 * i1, len, mm);
    });
}

// Dense 4x4 on bits (b0, b1), b0 being the matrix index's high bit.
template <class F>
void apply_dense2(amp_t<F>* psi, int n, int b0, int b1, const cplx* m, bool par) {
    amp_t<F> mm[16];
    for (int i = 0; i < 16; ++i) mm[i] = amp_t<F>(m[i]);
    int sorted[2] = {std::min(b0, b1), std::max(b0, b1)};
    const index_t s0 = index_t(1) << b0, s1 = index_t(1) << b1;
    const int64_t groups = int64_t(1) << (n - 2);
    for_range(groups, par, [&](int64_t g) {
        const index_t base = insert_zero_bits(index_t(g), sorted, 2);
        const index_t idx[4] = {base, base | s1, base | s0, base | s0 | s1};
        amp_t<F> v[4];
        for (int r = 0; r < 4; ++r) v[r] = psi[idx[r]];
        for (int r = 0; r < 4; ++r)
            psi[idx[r]] = mm[4 * r] * v[0] + mm[4 * r + 1] * v[1] + mm[4 * r + 2] * v[2] + mm[4 * r + 3] * v[3];
    });
}

// Singly-controlled 2x2 (CNOT, CRX, CRot, ...): the workhorse of entangling layers, so it gets its own loop.
// With `zero_off`, amplitudes with the control unset are zeroed (derivative of a controlled gate).
template <class F>
void apply_controlled1(amp_t<F>* psi, int n, int cbit, int tbit, const cplx* m, bool zero_off, bool par) {
    const amp_t<F> m00(m[0]), m01(m[1]), m10(m[2]), m11(m[3]);
    const int sorted[2] = {std::min(cbit, tbit), std::max(cbit, tbit)};
    const index_t cm = index_t(1) << cbit, tm = index_t(1) << tbit;
    const int64_t groups = int64_t(1) << (n - 2);
    for_range(groups, par, [&](int64_t g) {
        const index_t base = insert_zero_bits(index_t(g), sorted, 2);
        if (zero_off) {
            psi[base] = 0;
            psi[base | tm] = 0;
        }
        const index_t i0 = base | cm, i1 = i0 | tm;
        const amp_t<F> a = psi[i0], b = psi[i1];
        psi[i0] = m00 * a + m01 * b;
        psi[i1] = m10 * a + m11 * b;
    });
}

// Visits the base indices with two given bits clear in contiguous runs (unit stride inside a run):
// body(base, len) covers base .. base+len.
template <class Body>
inline void for_runs2(int n, int bit_a, int bit_b, bool par, Body&& body) {
    constexpr index_t kRun = 1024;
    const int sorted[2] = {std::min(bit_a, bit_b), std::max(bit_a, bit_b)};
    const index_t run = std::min(index_t(1) << sorted[0], kRun);
    const int64_t runs = int64_t((index_t(1) << (n - 2)) / run);
    for_range(runs, par, [&](int64_t r) { body(insert_zero_bits(index_t(r) * run, sorted, 2), run); });
}

template <class F>
PYQML_SIMD_CLONES void swap_run(F* __restrict a, F* __restrict b, index_t len) {
    for (index_t j = 0; j < len; ++j) std::swap(a[j], b[j]);
}

// CNOT: swaps of contiguous runs of amplitudes, no arithmetic.
template <class F>
void apply_cnot(amp_t<F>* psi, int n, int cbit, int tbit, bool par) {
    const index_t cm = index_t(1) << cbit, tm = index_t(1) << tbit;
    if (small_state_loop(n, std::min(cbit, tbit))) {
        const int sorted[2] = {std::min(cbit, tbit), std::max(cbit, tbit)};
        for_range(int64_t(1) << (n - 2), par, [&](int64_t g) {
            const index_t i0 = insert_zero_bits(index_t(g), sorted, 2) | cm;
            std::swap(psi[i0], psi[i0 | tm]);
        });
        return;
    }
    F* base = reinterpret_cast<F*>(psi);
    for_runs2(n, cbit, tbit, par, [&](index_t b0, index_t len) {
        swap_run<F>(base + 2 * (b0 | cm), base + 2 * (b0 | cm | tm), 2 * len);
    });
}

// Controlled-X on any number of controls (Toffoli): a swap of amplitude pairs, no arithmetic.
template <class F>
void apply_controlled_x(amp_t<F>* psi, int n, const int* ctrl_bits, int nc, int tbit, bool par) {
    if (nc == 1) {
        apply_cnot<F>(psi, n, ctrl_bits[0], tbit, par);
        return;
    }
    int sorted[4];
    index_t cm = 0;
    for (int a = 0; a < nc; ++a) {
        sorted[a] = ctrl_bits[a];
        cm |= index_t(1) << ctrl_bits[a];
    }
    sorted[nc] = tbit;
    std::sort(sorted, sorted + nc + 1);
    const index_t tm = index_t(1) << tbit;
    const int64_t groups = int64_t(1) << (n - nc - 1);
    for_range(groups, par, [&](int64_t g) {
        const index_t i0 = insert_zero_bits(index_t(g), sorted, nc + 1) | cm;
        std::swap(psi[i0], psi[i0 | tm]);
    });
}

// Where a gate block on k <= 3 target bits with nc control bits lives in the state: all its bits sorted
// (for insert_zero_bits), the control mask, and the offset of each local basis index (first target = high
// bit of the local index).
struct BlockLayout {
    int sorted[6];
    index_t cmask = 0;
    index_t offs[8];
    BlockLayout(const int* ctrl_bits, int nc, const int* tgt_bits, int k) {
        for (int a = 0; a < nc; ++a) {
            sorted[a] = ctrl_bits[a];
            cmask |= index_t(1) << ctrl_bits[a];
        }
        for (int a = 0; a < k; ++a) sorted[nc + a] = tgt_bits[a];
        std::sort(sorted, sorted + nc + k);
        for (int r = 0; r < (1 << k); ++r) {
            offs[r] = 0;
            for (int a = 0; a < k; ++a)
                if (r & (1 << (k - 1 - a))) offs[r] |= index_t(1) << tgt_bits[a];
        }
    }
};

// Dense 2^k x 2^k on k <= 3 bits, with `nc` leading control bits that must be set for the block to act.
// With `zero_off`, amplitudes whose controls are not all set are zeroed (the derivative of a controlled
// gate vanishes there).
template <class F>
void apply_controlled(amp_t<F>* psi, int n, const int* ctrl_bits, int nc, const int* tgt_bits, int k,
                      const cplx* m, bool zero_off, bool par) {
    const int dim = 1 << k;
    amp_t<F> mm[64];
    for (int i = 0; i < dim * dim; ++i) mm[i] = amp_t<F>(m[i]);
    const BlockLayout lay(ctrl_bits, nc, tgt_bits, k);
    const int* sorted = lay.sorted;
    const index_t cmask = lay.cmask;
    const index_t* offs = lay.offs;
    const int64_t groups = int64_t(1) << (n - nc - k);
    const int ncombo = 1 << nc;
    for_range(groups, par, [&](int64_t g) {
        const index_t base = insert_zero_bits(index_t(g), sorted, nc + k);
        if (zero_off) {
            for (int c = 0; c < ncombo - 1; ++c) {
                index_t cb = 0;
                for (int a = 0; a < nc; ++a)
                    if (c & (1 << a)) cb |= index_t(1) << ctrl_bits[a];
                for (int r = 0; r < dim; ++r) psi[base | cb | offs[r]] = 0;
            }
        }
        const index_t on = base | cmask;
        amp_t<F> v[8];
        for (int r = 0; r < dim; ++r) v[r] = psi[on | offs[r]];
        for (int r = 0; r < dim; ++r) {
            amp_t<F> acc = 0;
            for (int c = 0; c < dim; ++c) acc += mm[r * dim + c] * v[c];
            psi[on | offs[r]] = acc;
        }
    });
}

// Diagonal on k bits: psi[i] *= d[local index of i].
template <class F>
void apply_diagonal(amp_t<F>* psi, int n, const int* bits, int k, const cplx* d, bool par) {
    if (k == 1) {
        const amp_t<F> d0(d[0]), d1(d[1]);
        const int64_t size = int64_t(1) << n;
        const index_t mask = index_t(1) << bits[0];
        for_range(size, par, [&](int64_t i) { psi[i] *= (index_t(i) & mask) ? d1 : d0; });
        return;
    }
    amp_t<F> dd[1 << 6];
    const int dim = 1 << k;
    // k can exceed 6 for MultiRZ; fall back to computing the parity-free general lookup from d directly.
    const bool small = k <= 6;
    if (small)
        for (int i = 0; i < dim; ++i) dd[i] = amp_t<F>(d[i]);
    const int64_t size = int64_t(1) << n;
    for_range(size, par, [&](int64_t i) {
        unsigned local = 0;
        for (int a = 0; a < k; ++a) local = (local << 1) | ((index_t(i) >> bits[a]) & 1u);
        psi[i] *= small ? dd[local] : amp_t<F>(d[local]);
    });
}

}  // namespace pyqml::sv

namespace pyqml::sv {

// acc[0..N) += sums that body(i, s) adds into s, over i in [0, n). The range is cut into a fixed number
// of chunks that depends on n alone (reduce_chunks); each chunk is summed on its own from zero and the
// chunk sums are added in chunk order, whether the chunks run on one thread, across the threads of a
// parallel region of their own (`par`), or across a sweep team (`par` inside run_sweep, team.hpp): the
// result is the same to the bit for every thread count.
inline int reduce_chunks(int64_t n) { return int(std::max<int64_t>(1, std::min<int64_t>(kReduceChunks, n / 8))); }

template <int N, class Body>
inline void reduce_range(int64_t n, bool par, double* acc, Body&& body) {
    static_assert(N <= kReduceMaxWidth, "reduce_range: widen kReduceMaxWidth (team.hpp)");
    const int chunks = reduce_chunks(n);
    auto chunk_sum = [&](int c, double* s) {
        for (int k = 0; k < N; ++k) s[k] = 0.0;
        const int64_t lo = n * c / chunks, hi = n * (c + 1) / chunks;
        for (int64_t i = lo; i < hi; ++i) body(i, s);
    };
    auto add_parts = [&](const double* parts) {
        double tot[N] = {};
        for (int c = 0; c < chunks; ++c)
            for (int k = 0; k < N; ++k) tot[k] += parts[size_t(c) * N + k];
        for (int k = 0; k < N; ++k) acc[k] += tot[k];
    };
#ifdef PYQML_HAVE_OPENMP
    TeamMember* me = par ? &team_member() : nullptr;
    if (me && me->team) {
        // Inside a sweep: this thread's static share of the chunks into the team's current buffer; after
        // the barrier every thread adds all chunks in order (each gets the same acc).
        SweepTeam& team = *me->team;
        double* parts = team.parts.data() + size_t(me->round) * kReduceChunks * kReduceMaxWidth;
        me->round ^= 1;
        int64_t c0, c1;
        team_share(chunks, me->thread, team.size, c0, c1);
        for (int64_t c = c0; c < c1; ++c) chunk_sum(int(c), parts + size_t(c) * N);
        team.barrier.wait();
        add_parts(parts);
        return;
    }
    if (par && chunks > 1) {
        std::vector<double> parts(size_t(chunks) * N);
#pragma omp parallel for schedule(static) num_threads(max_threads())
        for (int c = 0; c < chunks; ++c) chunk_sum(c, parts.data() + size_t(c) * N);
        add_parts(parts.data());
        return;
    }
#endif
    double tot[N] = {}, s[N];
    for (int c = 0; c < chunks; ++c) {
        chunk_sum(c, s);
        for (int k = 0; k < N; ++k) tot[k] += s[k];
    }
    for (int k = 0; k < N; ++k) acc[k] += tot[k];
}

// Sum of body(i) over [0, n), reproducible as reduce_range.
template <class Body>
inline double sum_range(int64_t n, bool par, Body&& body) {
    double s = 0.0;
    reduce_range<1>(n, par, &s, [&](int64_t i, double* acc) { acc[0] += body(i); });
    return s;
}

}  // namespace pyqml::sv
