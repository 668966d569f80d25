#pragma once
// The machine's double-precision arithmetic ceiling, measured: a register-resident loop of independent
// fused multiply-adds (no memory traffic), on one thread or on several at once. The benches report the
// flops they achieve next to it, from the same run.
#include <string>

namespace pyqml {

struct FmaPeak {
    double gflops = 0;    // all threads together, by wall-clock time (best short repeat)
    // The same loop per second of CPU time the threads actually ran (CLOCK_THREAD_CPUTIME_ID), summed over
    // the threads: what the cores do while they run, also on a machine shared with other work, where the
    // wall-clock figure measures the share of the cores this process got.
    double gflops_cpu = 0;
    int threads = 1;
    std::string isa;      // "avx512f", "avx2+fma" or "baseline" (chosen at run time, as the kernels are)
};

// The best of short timed repeats (about 0.2 ms each, at least 5) filling `seconds`; threads <= 0: max_threads().
FmaPeak measure_fma_peak(int threads, double seconds = 0.02);

}  // namespace pyqml
