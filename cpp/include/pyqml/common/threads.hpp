#pragma once
// The engine's thread count: one process-wide setting (set_num_threads, pq.set_num_threads) that every
// calling thread honours, OpenMP's initial default (OMP_NUM_THREADS or all cores) until it is set, 1 in
// builds without OpenMP. Every OpenMP parallel region of the engine passes num_threads(max_threads()).

namespace pyqml {

// Absolute cap on set_num_threads.
constexpr int kMaxThreadsCap = 256;

int max_threads();
// Threads the hardware offers (std::thread::hardware_concurrency, at least 1).
int hardware_threads();
// The most set_num_threads accepts: 4 x the hardware threads (at least 4), at most kMaxThreadsCap.
int max_thread_count();
// Throws InvalidInput for n < 1 or n > max_thread_count().
void set_num_threads(int n);

}  // namespace pyqml
