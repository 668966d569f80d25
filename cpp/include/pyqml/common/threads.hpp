#pragma once
// The engine's thread count: OpenMP's (OMP_NUM_THREADS, pq.set_num_threads), 1 in builds without OpenMP.

namespace pyqml {

int max_threads();

}  // namespace pyqml
