#include "pyqml/common/threads.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <string>
#include <thread>

#include "pyqml/common/errors.hpp"

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

namespace pyqml {

namespace {
// 0: not set, use OpenMP's default. One value for the whole process: OpenMP's own setting
// (omp_set_num_threads) is per calling thread, so a count set from one Python thread would not reach
// another; every parallel region passes num_threads(max_threads()) instead.
std::atomic<int> g_threads{0};

int default_threads() {
#ifdef PYQML_HAVE_OPENMP
    // Read once, on first use: the initial OpenMP setting (OMP_NUM_THREADS or every core).
    static const int n = std::max(1, omp_get_max_threads());
    return n;
#else
    return 1;
#endif
}
}  // namespace

int hardware_threads() {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? static_cast<int>(hw) : 1;
}

int max_thread_count() { return std::min(kMaxThreadsCap, std::max(4, 4 * hardware_threads())); }

int max_threads() {
#ifdef PYQML_HAVE_OPENMP
    const int n = g_threads.load(std::memory_order_relaxed);
    return n > 0 ? n : default_threads();
#else
    return 1;
#endif
}

void set_num_threads(int n) {
    const int cap = max_thread_count();
    PYQML_REQUIRE(n >= 1, "set_num_threads: need at least one thread, got " + std::to_string(n));
    PYQML_REQUIRE(n <= cap, "set_num_threads: " + std::to_string(n) + " threads is over the limit of " +
                                std::to_string(cap) + " (4 x the " + std::to_string(hardware_threads()) +
                                " hardware threads, at most " + std::to_string(kMaxThreadsCap) + ")");
    g_threads.store(n, std::memory_order_relaxed);
}

bool idle_workers_sleep() {
    static const bool sleep = [] {
        const char* v = std::getenv("OMP_WAIT_POLICY");
        if (!v) return false;
        std::string s(v);
        for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return s == "passive";
    }();
    return sleep;
}

}  // namespace pyqml
