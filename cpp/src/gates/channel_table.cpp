#include "pyqml/gates/channel_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "pyqml/common/errors.hpp"

namespace pyqml::gates {

namespace {

// Forward-mode dual numbers: value and derivative along one parameter. The channel formulas below are
// written once, templated on the scalar, and give the Kraus operators (double) and their derivatives (Dual).
struct Dual {
    double v = 0.0, d = 0.0;
    Dual() = default;
    Dual(double value, double deriv = 0.0) : v(value), d(deriv) {}
};
inline Dual operator+(Dual a, Dual b) { return {a.v + b.v, a.d + b.d}; }
inline Dual operator-(Dual a, Dual b) { return {a.v - b.v, a.d - b.d}; }
inline Dual operator-(Dual a) { return {-a.v, -a.d}; }
inline Dual operator*(Dual a, Dual b) { return {a.v * b.v, a.d * b.v + a.v * b.d}; }
inline Dual operator/(Dual a, Dual b) { return {a.v / b.v, (a.d * b.v - a.v * b.d) / (b.v * b.v)}; }
inline Dual sqrt(Dual a) {
    const double s = std::sqrt(a.v);
    // d sqrt(x) = dx / (2 sqrt x): infinite at x = 0 unless x does not move there.
    return {s, a.d == 0.0 ? 0.0 : a.d / (2.0 * s)};
}
inline Dual exp(Dual a) {
    const double e = std::exp(a.v);
    return {e, e * a.d};
}
inline double sqrt(double x) { return std::sqrt(x); }
inline double exp(double x) { return std::exp(x); }
inline double value(double x) { return x; }
inline double value(Dual x) { return x.v; }

// A complex entry over the scalar T.
template <class T>
struct C {
    T re{}, im{};
};

// Every Kraus operator is written K_k = sqrt(w_k) M_k with a weight w_k (a probability-like factor) and a
// matrix M_k. Then the superoperator sum_k w_k M_k (x) conj(M_k) is smooth wherever the w_k and M_k are,
// including w_k = 0 where sqrt(w_k) has no derivative (BitFlip at p = 0).
template <class T>
struct Terms {
    int dim = 2;
    std::vector<T> w;
    std::vector<C<T>> m;  // n_terms x dim x dim
    void add(T weight, std::initializer_list<double> re, std::initializer_list<double> im = {}) {
        w.push_back(weight);
        std::vector<C<T>> e(size_t(dim) * dim);
        int i = 0;
        for (double x : re) e[i++].re = T(x);
        i = 0;
        for (double x : im) e[i++].im = T(x);
        m.insert(m.end(), e.begin(), e.end());
    }
    void add_matrix(T weight, std::vector<C<T>> e) {
        w.push_back(weight);
        m.insert(m.end(), e.begin(), e.end());
    }
};

template <class T>
Terms<T> channel_terms(ChannelId id, int n_wires, const T* p, const cplx* data, size_t data_size) {
    Terms<T> t;
    t.dim = 1 << n_wires;
    const T one(1.0);
    switch (id) {
        case ChannelId::BitFlip:
            t.add(one - p[0], {1, 0, 0, 1});
            t.add(p[0], {0, 1, 1, 0});
            break;
        case ChannelId::PhaseFlip:
            t.add(one - p[0], {1, 0, 0, 1});
            t.add(p[0], {1, 0, 0, -1});
            break;
        case ChannelId::DepolarizingChannel: {
            const T third = p[0] / T(3.0);
            t.add(one - p[0], {1, 0, 0, 1});
            t.add(third, {0, 1, 1, 0});
            t.add(third, {0, 0, 0, 0}, {0, -1, 1, 0});
            t.add(third, {1, 0, 0, -1});
            break;
        }
        case ChannelId::AmplitudeDamping:
        case ChannelId::PhaseDamping:
        case ChannelId::GeneralizedAmplitudeDamping: {
            const T g = p[0];
            const T sg = sqrt(one - g);
            // PennyLane 0.45: p is the population of |1> in the fixed point (damping towards |0> weighs 1 - p).
            const T scale = id == ChannelId::GeneralizedAmplitudeDamping ? one - p[1] : one;
            std::vector<C<T>> k0(4);
            k0[0].re = one;
            k0[3].re = sg;
            t.add_matrix(scale, k0);
            if (id == ChannelId::PhaseDamping) t.add(g, {0, 0, 0, 1});
            else t.add(scale * g, {0, 1, 0, 0});
            if (id == ChannelId::GeneralizedAmplitudeDamping) {
                std::vector<C<T>> k2(4);
                k2[0].re = sg;
                k2[3].re = one;
                t.add_matrix(p[1], k2);
                t.add(p[1] * g, {0, 0, 1, 0});
            }
            break;
        }
        case ChannelId::PauliError: {
            const size_t dd = size_t(t.dim) * t.dim;
            std::vector<C<T>> eye(dd), word(dd);
            for (int i = 0; i < t.dim; ++i) eye[size_t(i) * t.dim + i].re = one;
            for (size_t i = 0; i < dd; ++i) word[i] = {T(data[i].real()), T(data[i].imag())};
            t.add_matrix(one - p[0], eye);
            t.add_matrix(p[0], word);
            break;
        }
        case ChannelId::ResetError:
            t.add(one - p[0] - p[1], {1, 0, 0, 1});
            t.add(p[0], {1, 0, 0, 0});
            t.add(p[0], {0, 1, 0, 0});
            t.add(p[1], {0, 0, 1, 0});
            t.add(p[1], {0, 0, 0, 1});
            break;
        case ChannelId::ThermalRelaxationError: {
            const T pe = p[0], t1 = p[1], t2 = p[2], tq = p[3];
            const T eT1 = exp(-tq / t1);
            const T pr = one - eT1;
            const T eT2 = exp(-tq / t2);
            if (value(t2) <= value(t1)) {
                // Pure dephasing on top of a reset: Pauli-Z and reset probabilities.
                const T pz = (one - pr) * (one - eT2 / eT1) / T(2.0);
                const T pr0 = (one - pe) * pr;
                const T pr1 = pe * pr;
                t.add(one - pz - pr0 - pr1, {1, 0, 0, 1});
                t.add(pz, {1, 0, 0, -1});
                t.add(pr0, {1, 0, 0, 0});
                t.add(pr0, {0, 1, 0, 0});
                t.add(pr1, {0, 0, 1, 0});
                t.add(pr1, {0, 0, 0, 1});
            } else {
                // T2 > T1: eigen-decomposition of the Choi matrix (PennyLane's closed form).
                t.add(pr * pe, {0, 0, 1, 0});
                t.add(pr - pr * pe, {0, 1, 0, 0});
                const T common = sqrt(T(4.0) * eT2 * eT2 + T(4.0) * pr * pr * pe * pe - T(4.0) * pr * pr * pe + pr * pr);
                for (int s = -1; s <= 1; s += 2) {
                    const T e = one - pr / T(2.0) + T(double(s)) * common / T(2.0);
                    const T term = T(2.0) * eT2 / (T(2.0) * pr * pe - pr + T(double(s)) * common);
                    const T norm = sqrt(term * term + one);
                    std::vector<C<T>> v(4);
                    v[0].re = term / norm;
                    v[3].re = one / norm;
                    t.add_matrix(e, v);
                }
                t.add(T(0.0), {0, 0, 0, 0});
                t.add(T(0.0), {0, 0, 0, 0});
            }
            break;
        }
        case ChannelId::QubitChannel: {
            const size_t dd = size_t(t.dim) * t.dim;
            const size_t k = data_size / dd;
            for (size_t j = 0; j < k; ++j) {
                std::vector<C<T>> e(dd);
                for (size_t i = 0; i < dd; ++i) e[i] = {T(data[j * dd + i].real()), T(data[j * dd + i].imag())};
                t.add_matrix(one, e);
            }
            break;
        }
        default:
            throw InvalidInput("unknown channel");
    }
    return t;
}

const std::vector<ChannelSpec> kChannels = {
    {ChannelId::BitFlip, "BitFlip", 1, 1, 2, false, "p", "p in [0, 1]", true},
    {ChannelId::PhaseFlip, "PhaseFlip", 1, 1, 2, false, "p", "p in [0, 1]", true},
    {ChannelId::DepolarizingChannel, "DepolarizingChannel", 1, 1, 4, false, "p", "p in [0, 1]", true},
    {ChannelId::AmplitudeDamping, "AmplitudeDamping", 1, 1, 2, false, "gamma", "gamma in [0, 1]", false},
    {ChannelId::GeneralizedAmplitudeDamping, "GeneralizedAmplitudeDamping", 1, 2, 4, false, "gamma,p",
     "gamma in [0, 1], p in [0, 1]", false},
    {ChannelId::PhaseDamping, "PhaseDamping", 1, 1, 2, false, "gamma", "gamma in [0, 1]", true},
    {ChannelId::PauliError, "PauliError", -1, 1, 2, true, "p", "p in [0, 1]", true},
    {ChannelId::ResetError, "ResetError", 1, 2, 5, false, "p_0,p_1", "p_0 >= 0, p_1 >= 0, p_0 + p_1 <= 1", false},
    {ChannelId::ThermalRelaxationError, "ThermalRelaxationError", 1, 4, 6, false, "pe,t1,t2,tq",
     "pe in [0, 1], t1 > 0, 0 < t2 <= 2 t1, tq >= 0", false},
    {ChannelId::QubitChannel, "QubitChannel", -1, 0, -1, true, "", "sum_k K_k^dag K_k = 1 to 1e-10", false},
};

std::string num(double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", x);
    return buf;
}

}  // namespace

const std::vector<ChannelSpec>& all_channels() { return kChannels; }

const ChannelSpec& channel_spec(ChannelId id) {
    const int i = static_cast<int>(id);
    PYQML_REQUIRE(i >= 0 && i < static_cast<int>(ChannelId::Count), "unknown channel id " + std::to_string(i));
    return kChannels[i];
}

std::optional<ChannelId> channel_by_name(std::string_view name) {
    for (const auto& c : kChannels)
        if (name == c.name) return c.id;
    return std::nullopt;
}

int channel_wire_count(ChannelId id, int requested_wires, size_t data_size) {
    const auto& spec = channel_spec(id);
    if (spec.n_wires > 0) {
        PYQML_REQUIRE(requested_wires == spec.n_wires,
                      std::string(spec.name) + " acts on " + std::to_string(spec.n_wires) + " wire(s), got " +
                          std::to_string(requested_wires));
        return spec.n_wires;
    }
    PYQML_REQUIRE(requested_wires == 1 || requested_wires == 2,
                  std::string(spec.name) + " acts on 1 or 2 wires, got " + std::to_string(requested_wires));
    const size_t dd = size_t(1) << (2 * requested_wires);
    if (id == ChannelId::PauliError)
        PYQML_REQUIRE(data_size == dd, std::string(spec.name) + " on " + std::to_string(requested_wires) +
                                           " wire(s) needs its Pauli word as a " +
                                           std::to_string(1 << requested_wires) + "x" +
                                           std::to_string(1 << requested_wires) + " matrix");
    else
        PYQML_REQUIRE(data_size >= dd && data_size % dd == 0,
                      std::string(spec.name) + " on " + std::to_string(requested_wires) +
                          " wire(s) needs a list of " + std::to_string(1 << requested_wires) + "x" +
                          std::to_string(1 << requested_wires) + " Kraus matrices, got " +
                          std::to_string(data_size) + " entries");
    return requested_wires;
}

int kraus_count(ChannelId id, int n_wires, size_t data_size) {
    const auto& spec = channel_spec(id);
    if (spec.n_kraus > 0) return spec.n_kraus;
    return static_cast<int>(data_size >> (2 * n_wires));
}

void check_channel_params(ChannelId id, const double* p) {
    const auto& spec = channel_spec(id);
    auto in01 = [&](double x, const char* what) {
        PYQML_REQUIRE(x >= 0.0 && x <= 1.0, std::string(spec.name) + ": " + what + " = " + num(x) +
                                                " is outside [0, 1]");
    };
    switch (id) {
        case ChannelId::BitFlip:
        case ChannelId::PhaseFlip:
        case ChannelId::DepolarizingChannel:
        case ChannelId::PauliError:
            in01(p[0], "p");
            break;
        case ChannelId::AmplitudeDamping:
        case ChannelId::PhaseDamping:
            in01(p[0], "gamma");
            break;
        case ChannelId::GeneralizedAmplitudeDamping:
            in01(p[0], "gamma");
            in01(p[1], "p");
            break;
        case ChannelId::ResetError:
            in01(p[0], "p_0");
            in01(p[1], "p_1");
            PYQML_REQUIRE(p[0] + p[1] <= 1.0, std::string(spec.name) + ": p_0 + p_1 = " + num(p[0] + p[1]) +
                                                  " is above 1");
            break;
        case ChannelId::ThermalRelaxationError:
            in01(p[0], "pe");
            PYQML_REQUIRE(p[1] > 0.0 && std::isfinite(p[1]),
                          std::string(spec.name) + ": t1 = " + num(p[1]) + " must be positive and finite");
            PYQML_REQUIRE(p[2] > 0.0 && std::isfinite(p[2]),
                          std::string(spec.name) + ": t2 = " + num(p[2]) + " must be positive and finite");
            PYQML_REQUIRE(p[2] <= 2.0 * p[1], std::string(spec.name) + ": t2 = " + num(p[2]) +
                                                  " is greater than 2 t1 = " + num(2.0 * p[1]));
            PYQML_REQUIRE(p[3] >= 0.0 && std::isfinite(p[3]),
                          std::string(spec.name) + ": tq = " + num(p[3]) + " must be non-negative and finite");
            break;
        case ChannelId::QubitChannel:
            break;
        default:
            throw InvalidInput("unknown channel");
    }
}

void check_channel_data(ChannelId id, int n_wires, const cplx* data, size_t data_size) {
    const auto& spec = channel_spec(id);
    channel_wire_count(id, n_wires, data_size);
    const int d = 1 << n_wires;
    if (id == ChannelId::PauliError) {
        for (int r = 0; r < d; ++r) {
            int nonzero = 0;
            for (int c = 0; c < d; ++c) {
                const cplx x = data[size_t(r) * d + c];
                if (x == cplx(0.0)) continue;
                ++nonzero;
                const bool unit = x == cplx(1.0) || x == cplx(-1.0) || x == cplx(0.0, 1.0) || x == cplx(0.0, -1.0);
                PYQML_REQUIRE(unit && data[size_t(c) * d + r] == std::conj(x),
                              std::string(spec.name) + ": the matrix is not a Pauli word");
            }
            PYQML_REQUIRE(nonzero == 1, std::string(spec.name) + ": the matrix is not a Pauli word");
        }
        return;
    }
    if (id != ChannelId::QubitChannel) return;
    for (size_t i = 0; i < data_size; ++i)
        PYQML_REQUIRE(std::isfinite(data[i].real()) && std::isfinite(data[i].imag()),
                      std::string(spec.name) + ": a Kraus matrix has a NaN or infinite entry");
    const size_t dd = size_t(d) * d, k = data_size / dd;
    double err = 0.0;
    for (int r = 0; r < d; ++r)
        for (int c = 0; c < d; ++c) {
            cplx s = 0.0;
            for (size_t j = 0; j < k; ++j)
                for (int m = 0; m < d; ++m)
                    s += std::conj(data[j * dd + size_t(m) * d + r]) * data[j * dd + size_t(m) * d + c];
            err = std::max(err, std::abs(s - (r == c ? 1.0 : 0.0)));
        }
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: the Kraus operators are not trace preserving (max |sum K^dag K - 1| = %.3g, "
                  "tolerance 1e-10)", spec.name, err);
    PYQML_REQUIRE(err <= 1e-10, buf);
}

std::vector<cplx> kraus_matrices(ChannelId id, int n_wires, const double* p, const cplx* data, size_t data_size) {
    check_channel_params(id, p);
    const Terms<double> t = channel_terms<double>(id, n_wires, p, data, data_size);
    const size_t dd = size_t(t.dim) * t.dim;
    std::vector<cplx> out(t.m.size());
    for (size_t k = 0; k < t.w.size(); ++k) {
        const double s = std::sqrt(std::max(t.w[k], 0.0));  // -1e-17 from rounding is 0
        for (size_t i = 0; i < dd; ++i) out[k * dd + i] = s * cplx(t.m[k * dd + i].re, t.m[k * dd + i].im);
    }
    return out;
}

std::vector<cplx> kraus_dmatrices(ChannelId id, int n_wires, const double* p, int param, const cplx* data,
                                  size_t data_size) {
    const auto& spec = channel_spec(id);
    PYQML_REQUIRE(param >= 0 && param < spec.n_params, std::string(spec.name) + " has no parameter " +
                                                           std::to_string(param));
    check_channel_params(id, p);
    std::vector<Dual> pd(spec.n_params);
    for (int k = 0; k < spec.n_params; ++k) pd[k] = Dual(p[k], k == param ? 1.0 : 0.0);
    const Terms<Dual> t = channel_terms<Dual>(id, n_wires, pd.data(), data, data_size);
    const size_t dd = size_t(t.dim) * t.dim;
    std::vector<cplx> out(t.m.size());
    for (size_t k = 0; k < t.w.size(); ++k) {
        const Dual s = sqrt(t.w[k]);
        for (size_t i = 0; i < dd; ++i) {
            const Dual re = s * t.m[k * dd + i].re, im = s * t.m[k * dd + i].im;
            // An entry whose matrix part is zero does not move, whatever sqrt(w) does.
            const bool zero = t.m[k * dd + i].re.v == 0.0 && t.m[k * dd + i].re.d == 0.0 &&
                              t.m[k * dd + i].im.v == 0.0 && t.m[k * dd + i].im.d == 0.0;
            out[k * dd + i] = zero ? cplx(0.0) : cplx(re.d, im.d);
        }
    }
    return out;
}

void superoperator(ChannelId id, int n_wires, const double* p, const cplx* data, size_t data_size, cplx* S,
                   cplx* dS) {
    const auto& spec = channel_spec(id);
    check_channel_params(id, p);
    const int d = 1 << n_wires;
    const size_t dd = size_t(d) * d, D = dd;  // S is D x D
    // S[(i, j), (k, l)] = sum_t w_t M_t[i][k] conj(M_t[j][l])
    auto fill = [&](const auto& t, auto&& get, cplx* out) {
        for (size_t i = 0; i < D * D; ++i) out[i] = 0.0;
        for (size_t n = 0; n < t.w.size(); ++n) {
            const auto* M = &t.m[n * dd];
            for (int i = 0; i < d; ++i)
                for (int k = 0; k < d; ++k)
                    for (int j = 0; j < d; ++j)
                        for (int l = 0; l < d; ++l)
                            out[(size_t(i) * d + j) * D + size_t(k) * d + l] +=
                                get(t.w[n], M[size_t(i) * d + k], M[size_t(j) * d + l]);
        }
    };
    {
        const Terms<double> t = channel_terms<double>(id, n_wires, p, data, data_size);
        fill(t, [](double w, const C<double>& a, const C<double>& b) {
            return w * cplx(a.re, a.im) * cplx(b.re, -b.im);
        }, S);
    }
    if (!dS) return;
    std::vector<Dual> pd(spec.n_params);
    for (int q = 0; q < spec.n_params; ++q) {
        for (int k = 0; k < spec.n_params; ++k) pd[k] = Dual(p[k], k == q ? 1.0 : 0.0);
        const Terms<Dual> t = channel_terms<Dual>(id, n_wires, pd.data(), data, data_size);
        cplx* out = dS + size_t(q) * D * D;
        fill(t, [](const Dual& w, const C<Dual>& a, const C<Dual>& b) {
            // d [w a conj(b)] = dw a conj(b) + w (da conj(b) + a conj(db))
            const cplx av(a.re.v, a.im.v), ad(a.re.d, a.im.d), bv(b.re.v, -b.im.v), bd(b.re.d, -b.im.d);
            if (av == cplx(0.0) && ad == cplx(0.0)) return cplx(0.0);
            if (bv == cplx(0.0) && bd == cplx(0.0)) return cplx(0.0);
            return w.d * av * bv + w.v * (ad * bv + av * bd);
        }, out);
        for (size_t i = 0; i < D * D; ++i)
            PYQML_REQUIRE(std::isfinite(out[i].real()) && std::isfinite(out[i].imag()),
                          std::string(spec.name) + ": no derivative with respect to " +
                              std::to_string(q) + "-th parameter (" + spec.param_names + ") at the edge of its "
                              "domain (" + spec.bounds + ")");
    }
}

}  // namespace pyqml::gates
