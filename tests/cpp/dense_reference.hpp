#pragma once
// An independent dense reference for the tests: full 2^n x 2^n operators built by Kronecker products,
// applied by plain matrix-vector multiplication. Slow and obviously correct.
#include <complex>
#include <random>
#include <vector>

#include "pyqml/gates/gate_table.hpp"

namespace pyqml::test {

using cvec = std::vector<cplx>;

// Matrix of a k-wire gate embedded on n wires at `wires` (wire 0 = most significant bit).
inline cvec embed(const cvec& g, int n, const std::vector<int>& wires) {
    const size_t dim = size_t(1) << n;
    const int k = static_cast<int>(wires.size());
    const size_t gd = size_t(1) << k;
    cvec out(dim * dim, 0.0);
    for (size_t col = 0; col < dim; ++col) {
        size_t lc = 0;
        for (int a = 0; a < k; ++a) lc = (lc << 1) | ((col >> (n - 1 - wires[a])) & 1u);
        for (size_t lr = 0; lr < gd; ++lr) {
            size_t row = col;
            for (int a = 0; a < k; ++a) {
                const size_t bit = size_t(1) << (n - 1 - wires[a]);
                if ((lr >> (k - 1 - a)) & 1u) row |= bit;
                else row &= ~bit;
            }
            out[row * dim + col] += g[lr * gd + lc];
        }
    }
    return out;
}

inline cvec matvec(const cvec& m, const cvec& v) {
    const size_t dim = v.size();
    cvec out(dim, 0.0);
    for (size_t r = 0; r < dim; ++r)
        for (size_t c = 0; c < dim; ++c) out[r] += m[r * dim + c] * v[c];
    return out;
}

inline cvec random_state(int n, std::mt19937_64& rng) {
    std::normal_distribution<double> nd;
    cvec v(size_t(1) << n);
    double norm = 0;
    for (auto& x : v) {
        x = cplx(nd(rng), nd(rng));
        norm += std::norm(x);
    }
    for (auto& x : v) x /= std::sqrt(norm);
    return v;
}

inline double max_diff(const cvec& a, const cvec& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

}  // namespace pyqml::test
