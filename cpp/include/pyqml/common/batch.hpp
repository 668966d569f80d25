#pragma once
// What every method's batched calls take: the numbers bound to a compiled circuit for a batch of rows,
// and the precision of the amplitudes.
#include <cstdint>

namespace pyqml {

enum class Precision { Double, Single };

// Weights (n_weights) shared by all rows, or one weight vector per row (weights_per_row), and inputs
// (rows x n_inputs, row-major). Alternatively, explicit gate angles (rows x n_angles) bypass binding
// (parameter-shift references).
struct Batch {
    const double* weights = nullptr;
    bool weights_per_row = false;
    const double* inputs = nullptr;
    int64_t rows = 1;
    const double* angles = nullptr;
};

}  // namespace pyqml
