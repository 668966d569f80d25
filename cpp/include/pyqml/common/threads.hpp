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
// Whether the OpenMP runtime's idle workers sleep (OMP_WAIT_POLICY=PASSIVE, which `import pyqml` sets
// unless the environment sets a policy), read once: waking a sleeping worker costs tens of microseconds,
// so small calls keep to fewer threads. Spinning workers (the runtime's default, ACTIVE) wake at once.
bool idle_workers_sleep();

}  // namespace pyqml
