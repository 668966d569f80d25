#pragma once
// Threads that share the passes of one state inside a single parallel region.
//
// SpinBarrier: a barrier that spins briefly before yielding. Passes over a state of 2^14-2^18 amplitudes
// take tens of microseconds to a millisecond, and with OMP_WAIT_POLICY=PASSIVE (set by pyqml) an OpenMP
// barrier or fork puts the workers to sleep and wakes them with a system call, costing about as much.
//
// SweepTeam: a whole forward pass or adjoint sweep runs inside one parallel region (run_sweep) instead of
// one region per pass. While a thread is in such a region, the loop helpers of apply_gate.hpp
// (for_range, reduce_range) called with par = true split their range statically over the team (every
// thread calls them in the same order with the same arguments) and end with the team's spinning barrier,
// so that the next pass sees the whole state. reduce_range's sums go through fixed chunks in a fixed
// order in every case (apply_gate.hpp), so a sweep's values do not depend on the number of threads.
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "pyqml/common/threads.hpp"

namespace pyqml::sv {

class SpinBarrier {
public:
    explicit SpinBarrier(int n = 1) : n_(n) {}
    // The number of threads that wait (set before any of them waits).
    void reset(int n) { n_ = n; }
    void wait() {
        if (n_ <= 1) return;
        const int gen = gen_.load(std::memory_order_acquire);
        if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
            count_.store(0, std::memory_order_relaxed);
            gen_.fetch_add(1, std::memory_order_release);
            return;
        }
        for (int spin = 0; gen_.load(std::memory_order_acquire) == gen; ++spin)
            if (spin > 2000) std::this_thread::yield();
    }

private:
    int n_;
    std::atomic<int> count_{0};
    std::atomic<int> gen_{0};
};

// Fixed partial sums of reduce_range (apply_gate.hpp): at most this many chunks, each summed on its own.
inline constexpr int kReduceChunks = 64;
// The widest reduction (doubles per chunk) a team's scratch holds (overlap_block's 8x8 complex G).
inline constexpr int kReduceMaxWidth = 128;

struct SweepTeam {
    int size = 1;
    SpinBarrier barrier;
    // Two alternating buffers of per-chunk partial sums: a thread may start the next reduction (writing
    // one buffer) while another still reads the previous one; the barrier between them orders the reuse.
    std::vector<double> parts = std::vector<double>(2 * size_t(kReduceChunks) * kReduceMaxWidth);
};

// The calling thread's place in its current sweep region (team == nullptr outside one).
struct TeamMember {
    SweepTeam* team = nullptr;
    int thread = 0;
    int round = 0;  // which buffer of team->parts the next reduction uses
};
inline TeamMember& team_member() {
    static thread_local TeamMember m;
    return m;
}

// The [lo, hi) share of thread t of `size` in a static split of [0, n).
inline void team_share(int64_t n, int t, int size, int64_t& lo, int64_t& hi) {
    lo = n * t / size;
    hi = n * (t + 1) / size;
}

// Serial code inside a kernel that reads a state outside the loop helpers (every thread of a team runs
// it alike) calls this after it when `par`: no thread may move on to the next pass, which writes the
// state, while another still reads it.
inline void team_sync(bool par) {
    if (!par) return;
    const TeamMember& me = team_member();
    if (me.team) me.team->barrier.wait();
}

// Runs body(par, lead) on every thread of one parallel region of max_threads() threads when `par` (the
// loop helpers then split their ranges over that team), else once on the calling thread with par =
// false. lead is true on exactly one thread (thread 0). Every thread runs the same sequence of passes, so
// the body's control flow must depend only on data all threads see alike; it must not throw.
template <class Body>
inline void run_sweep(bool par, Body&& body) {
#ifdef PYQML_HAVE_OPENMP
    if (par && max_threads() > 1 && team_member().team == nullptr) {
        SweepTeam shared;
#pragma omp parallel num_threads(max_threads())
        {
#pragma omp single
            {
                shared.size = omp_get_num_threads();
                shared.barrier.reset(shared.size);
            }
            // (omp single ends with a barrier: every thread sees the team's size before using it.)
            TeamMember& me = team_member();
            me.team = &shared;
            me.thread = omp_get_thread_num();
            me.round = 0;
            body(true, me.thread == 0);
            me.team = nullptr;
        }
        return;
    }
#endif
    body(false, true);
}

}  // namespace pyqml::sv
