// Measured FMA peak (peak.hpp). Each variant keeps kAcc independent vector accumulators in registers
// (enough to cover the FMA latency on two pipes: 12 of 4 doubles on AVX2, 16 of 8 on AVX-512) and runs
// acc = acc * m + c on all of them per iteration; 2 flops per lane per FMA. The variant is chosen at run
// time with __builtin_cpu_supports, like the multi-versioned kernels.
#include "pyqml/common/peak.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define PYQML_PEAK_X86 1
#endif

#include "pyqml/common/threads.hpp"

namespace pyqml {

namespace {

constexpr int64_t kChunk = 1 << 14;  // iterations of the calibration run

#ifdef PYQML_PEAK_X86
__attribute__((target("avx512f"))) double loop_avx512(int64_t iters, double m, double c) {
    constexpr int kAcc = 16;
    __m512d acc[kAcc];
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_pd(1.0 + 0.001 * i);
    const __m512d vm = _mm512_set1_pd(m), vc = _mm512_set1_pd(c);
    for (int64_t it = 0; it < iters; ++it)
        for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_fmadd_pd(acc[i], vm, vc);
    __m512d s = acc[0];
    for (int i = 1; i < kAcc; ++i) s = _mm512_add_pd(s, acc[i]);
    alignas(64) double out[8];
    _mm512_store_pd(out, s);
    return out[0] + out[7];
}

__attribute__((target("avx2,fma"))) double loop_avx2(int64_t iters, double m, double c) {
    constexpr int kAcc = 12;
    __m256d acc[kAcc];
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_set1_pd(1.0 + 0.001 * i);
    const __m256d vm = _mm256_set1_pd(m), vc = _mm256_set1_pd(c);
    for (int64_t it = 0; it < iters; ++it)
        for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_fmadd_pd(acc[i], vm, vc);
    __m256d s = acc[0];
    for (int i = 1; i < kAcc; ++i) s = _mm256_add_pd(s, acc[i]);
    alignas(32) double out[4];
    _mm256_store_pd(out, s);
    return out[0] + out[3];
}
#endif

// Baseline: scalar multiply then add (2 flops per step, no FMA instruction assumed).
double loop_baseline(int64_t iters, double m, double c) {
    constexpr int kAcc = 16;
    double acc[kAcc];
    for (int i = 0; i < kAcc; ++i) acc[i] = 1.0 + 0.001 * i;
    for (int64_t it = 0; it < iters; ++it)
        for (int i = 0; i < kAcc; ++i) acc[i] = acc[i] * m + c;
    double s = 0;
    for (int i = 0; i < kAcc; ++i) s += acc[i];
    return s;
}

struct Variant {
    double (*loop)(int64_t, double, double);
    double flops_per_iter;
    const char* isa;
};

Variant pick() {
#ifdef PYQML_PEAK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return {loop_avx512, 16 * 8 * 2.0, "avx512f"};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {loop_avx2, 12 * 4 * 2.0, "avx2+fma"};
#endif
    return {loop_baseline, 16 * 2.0, "baseline"};
}

volatile double g_sink;

double thread_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

}  // namespace

FmaPeak measure_fma_peak(int threads, double seconds) {
    const Variant v = pick();
    if (threads <= 0) threads = max_threads();
#ifndef PYQML_HAVE_OPENMP
    threads = 1;
#endif
    // m * acc + c with m < 1 converges to c / (1 - m) = 1: values stay normal, nothing overflows.
    const double m = 0.999999, c = 1e-6;
    // Short timed repeats (about 0.2 ms each), the best one kept: on a machine shared with other work a
    // repeat that ran without being descheduled shows what the cores can do.
    auto t0 = std::chrono::steady_clock::now();
    g_sink = v.loop(kChunk, m, c);
    const double chunk_s = std::max(1e-7, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    const int64_t iters = std::max<int64_t>(256, int64_t(double(kChunk) * 2e-4 / chunk_s));
    const double rep_s = chunk_s * double(iters) / double(kChunk);
    const int reps = static_cast<int>(std::clamp(seconds / rep_s, 5.0, 100000.0));
    double best = 0, best_cpu = 0;
    for (int rep = 0; rep < reps; ++rep) {
        auto a = std::chrono::steady_clock::now();
        double rate_cpu = 0;
#pragma omp parallel num_threads(threads) if (threads > 1) reduction(+ : rate_cpu)
        {
            const double c0 = thread_cpu_seconds();
            const double r = v.loop(iters, m, c);
            const double used = thread_cpu_seconds() - c0;
            if (r == 12345.678) g_sink = r;  // keep the result live
            if (used > 0) rate_cpu += double(iters) * v.flops_per_iter / used / 1e9;
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
        best = std::max(best, double(threads) * double(iters) * v.flops_per_iter / s / 1e9);
        best_cpu = std::max(best_cpu, rate_cpu);
    }
    FmaPeak p;
    p.gflops = best;
    p.gflops_cpu = best_cpu;
    p.threads = threads;
    p.isa = v.isa;
    return p;
}

}  // namespace pyqml
