#pragma once
// The machine's double-precision arithmetic ceiling, measured: a register-resident loop of independent
// fused multiply-adds (no memory traffic), on one thread or on several at once. The benches report the
// flops they achieve next to it, from the same run.
#include <string>

namespace pyqml {

struct FmaPeak {
    double gflops = 0;    // all threads together
    int threads = 1;
    std::string isa;      // "avx512f", "avx2+fma" or "baseline" (chosen at run time, as the kernels are)
};

// Best of a few timed repeats of `seconds` each (at least one loop chunk); threads <= 0: max_threads().
FmaPeak measure_fma_peak(int threads, double seconds = 0.02);

}  // namespace pyqml
