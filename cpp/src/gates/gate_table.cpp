#include "pyqml/gates/gate_table.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "pyqml/common/errors.hpp"

namespace pyqml::gates {

namespace {

constexpr cplx I1{0.0, 1.0};
const double kInvSqrt2 = 1.0 / std::sqrt(2.0);

void set_dense(cplx* out, std::initializer_list<cplx> v) {
    int i = 0;
    for (const cplx& x : v) out[i++] = x;
}

// 2x2 product out = a * b (row-major).
void mul2(const cplx* a, const cplx* b, cplx* out) {
    cplx r[4];
    r[0] = a[0] * b[0] + a[1] * b[2];
    r[1] = a[0] * b[1] + a[1] * b[3];
    r[2] = a[2] * b[0] + a[3] * b[2];
    r[3] = a[2] * b[1] + a[3] * b[3];
    for (int i = 0; i < 4; ++i) out[i] = r[i];
}

// Angles are reduced modulo their period before any sine or cosine is taken, and a phase that depends on
// several angles is the product of unit complex numbers of each (exp(i phi) exp(i lam)), never the
// exponential of a rounded sum: then every matrix is unitary to rounding at any finite angle (1e15,
// 1e300), equals the matrix at the reduced angle, and its derivatives are those of the reduced angle.
// std::remainder is exact (the result is t - n P with no rounding, |result| <= P / 2) for the double P,
// so reduce(t) is idempotent and a reduced angle stays reduced. Half-angle functions (exp(-i t G / 2))
// have period 4 pi; phases exp(i t) have 2 pi. Non-finite angles pass through (the engines refuse them).
constexpr double kTwoPi = 2.0 * M_PI;   // exact: 2 * fl(pi)
constexpr double kFourPi = 4.0 * M_PI;  // exact: 4 * fl(pi)
// An angle already within half a period is its own remainder (|t| <= P / 2 gives quotient 0, ties to
// even included), so the common case skips the division; NaN and infinities fail the test and pass through.
inline double reduce_half(double t) {
    return std::fabs(t) <= kTwoPi ? t : (std::isfinite(t) ? std::remainder(t, kFourPi) : t);
}
inline double reduce_phase(double t) {
    return std::fabs(t) <= M_PI ? t : (std::isfinite(t) ? std::remainder(t, kTwoPi) : t);
}
// exp(i t) with t a phase (period 2 pi).
inline cplx eiphase(double t) {
    const double r = reduce_phase(t);
    return {std::cos(r), std::sin(r)};
}
// exp(i t / 2) with t a half-angle parameter (period 4 pi).
inline cplx eihalf(double t) {
    const double r = reduce_half(t) / 2;
    return {std::cos(r), std::sin(r)};
}

// Rotations exp(-i t G / 2) with G^2 = 1: U = cos(t/2) 1 - i sin(t/2) G, dU/dt = -sin/2 1 - i cos/2 G.
void rotation(const cplx* g, int dim, double t, bool deriv, cplx* out) {
    const double h = reduce_half(t) / 2;
    double c = std::cos(h), s = std::sin(h);
    double a = deriv ? -s / 2 : c;
    double b = deriv ? c / 2 : s;
    for (int r = 0; r < dim; ++r)
        for (int col = 0; col < dim; ++col)
            out[r * dim + col] = (r == col ? a : 0.0) - I1 * b * g[r * dim + col];
}

const cplx PX[4] = {0, 1, 1, 0};
const cplx PY[4] = {0, -I1, I1, 0};
const cplx PXX[16] = {0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0};
const cplx PYY[16] = {0, 0, 0, -1, 0, 0, 1, 0, 0, 1, 0, 0, -1, 0, 0, 0};

// ---- fixed gates ----
void m_I(const double*, int, cplx* o) { set_dense(o, {1, 1}); }
void m_H(const double*, int, cplx* o) { set_dense(o, {kInvSqrt2, kInvSqrt2, kInvSqrt2, -kInvSqrt2}); }
void m_X(const double*, int, cplx* o) { set_dense(o, {0, 1, 1, 0}); }
void m_Y(const double*, int, cplx* o) { set_dense(o, {0, -I1, I1, 0}); }
void m_Z(const double*, int, cplx* o) { set_dense(o, {1, -1}); }
void m_S(const double*, int, cplx* o) { set_dense(o, {1, I1}); }
void m_Sdg(const double*, int, cplx* o) { set_dense(o, {1, -I1}); }
void m_T(const double*, int, cplx* o) { set_dense(o, {1, std::exp(I1 * (M_PI / 4))}); }
void m_Tdg(const double*, int, cplx* o) { set_dense(o, {1, std::exp(-I1 * (M_PI / 4))}); }
void m_SX(const double*, int, cplx* o) {
    set_dense(o, {cplx(0.5, 0.5), cplx(0.5, -0.5), cplx(0.5, -0.5), cplx(0.5, 0.5)});
}
void m_SXdg(const double*, int, cplx* o) {
    set_dense(o, {cplx(0.5, -0.5), cplx(0.5, 0.5), cplx(0.5, 0.5), cplx(0.5, -0.5)});
}
void m_CZ(const double*, int, cplx* o) { set_dense(o, {1, 1, 1, -1}); }
void m_SWAP(const double*, int, cplx* o) {
    set_dense(o, {1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1});
}
void m_ISWAP(const double*, int, cplx* o) {
    set_dense(o, {1, 0, 0, 0, 0, 0, I1, 0, 0, I1, 0, 0, 0, 0, 0, 1});
}

// ---- one-parameter rotations ----
void m_RX(const double* p, int, cplx* o) { rotation(PX, 2, p[0], false, o); }
void d_RX(const double* p, int, int, cplx* o) { rotation(PX, 2, p[0], true, o); }
void m_RY(const double* p, int, cplx* o) { rotation(PY, 2, p[0], false, o); }
void d_RY(const double* p, int, int, cplx* o) { rotation(PY, 2, p[0], true, o); }
void m_RZ(const double* p, int, cplx* o) {
    const cplx e = eihalf(p[0]);
    set_dense(o, {std::conj(e), e});
}
void d_RZ(const double* p, int, int, cplx* o) {
    const cplx e = eihalf(p[0]);
    set_dense(o, {-0.5 * I1 * std::conj(e), 0.5 * I1 * e});
}
void m_Phase(const double* p, int, cplx* o) { set_dense(o, {1, eiphase(p[0])}); }
void d_Phase(const double* p, int, int, cplx* o) { set_dense(o, {0, I1 * eiphase(p[0])}); }

// Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)
//   = [[a c, -b s], [conj(b) s, conj(a) c]],  a = e^{-i(phi+omega)/2}, b = e^{i(phi-omega)/2},
// c = cos(theta/2), s = sin(theta/2). Writes the matrix (if m) and the derivatives selected by `dk` (bit k set:
// d/dp[k] into d + 4k) from one evaluation of the trigonometric functions.
void rot_all(const double* p, cplx* m, unsigned dk, cplx* d) {
    const cplx e0 = eihalf(p[0]), e2 = eihalf(p[2]);
    const cplx a = std::conj(e0 * e2), b = e0 * std::conj(e2);
    const cplx ac = std::conj(a), bc = std::conj(b);
    const double t = reduce_half(p[1]) / 2;
    const double c = std::cos(t), s = std::sin(t);
    const cplx h = 0.5 * I1;
    if (m) set_dense(m, {a * c, -b * s, bc * s, ac * c});
    if (dk & 1u) set_dense(d, {-h * a * c, -h * b * s, -h * bc * s, h * ac * c});
    if (dk & 2u) set_dense(d + 4, {-a * s / 2.0, -b * c / 2.0, bc * c / 2.0, -ac * s / 2.0});
    if (dk & 4u) set_dense(d + 8, {-h * a * c, h * b * s, h * bc * s, h * ac * c});
}
void m_Rot(const double* p, int, cplx* o) { rot_all(p, o, 0u, nullptr); }
void d_Rot(const double* p, int k, int, cplx* o) {
    cplx all[12];
    rot_all(p, nullptr, 1u << k, all);
    std::copy(all + 4 * k, all + 4 * k + 4, o);
}
void ds_Rot(const double* p, unsigned mask, int, cplx* o) { rot_all(p, nullptr, mask, o); }

// U3(theta, phi, delta) = [[c, -e^{i delta} s], [e^{i phi} s, e^{i(phi+delta)} c]].
void m_U3(const double* p, int, cplx* o) {
    const double h = reduce_half(p[0]) / 2;
    const double c = std::cos(h), s = std::sin(h);
    const cplx ed = eiphase(p[2]), ep = eiphase(p[1]);
    set_dense(o, {c, -ed * s, ep * s, (ep * ed) * c});
}
void d_U3(const double* p, int k, int, cplx* o) {
    const double h = reduce_half(p[0]) / 2;
    const double c = std::cos(h), s = std::sin(h);
    const cplx ed = eiphase(p[2]), ep = eiphase(p[1]), epd = ep * ed;
    if (k == 0) set_dense(o, {-s / 2, -ed * c / 2.0, ep * c / 2.0, -epd * s / 2.0});
    else if (k == 1) set_dense(o, {0, 0, I1 * ep * s, I1 * epd * c});
    else set_dense(o, {0, -I1 * ed * s, 0, I1 * epd * c});
}

// ---- two-qubit parametrised ----
void m_CRZ(const double* p, int, cplx* o) {
    const cplx e = eihalf(p[0]);
    set_dense(o, {1, 1, std::conj(e), e});
}
void d_CRZ(const double* p, int, int, cplx* o) {
    const cplx e = eihalf(p[0]);
    set_dense(o, {0, 0, -0.5 * I1 * std::conj(e), 0.5 * I1 * e});
}
void m_CPhase(const double* p, int, cplx* o) { set_dense(o, {1, 1, 1, eiphase(p[0])}); }
void d_CPhase(const double* p, int, int, cplx* o) { set_dense(o, {0, 0, 0, I1 * eiphase(p[0])}); }
void m_XX(const double* p, int, cplx* o) { rotation(PXX, 4, p[0], false, o); }
void d_XX(const double* p, int, int, cplx* o) { rotation(PXX, 4, p[0], true, o); }
void m_YY(const double* p, int, cplx* o) { rotation(PYY, 4, p[0], false, o); }
void d_YY(const double* p, int, int, cplx* o) { rotation(PYY, 4, p[0], true, o); }

// MultiRZ(t) on k wires = exp(-i t Z...Z / 2): diagonal e^{-i t z / 2}, z = (-1)^{parity of the index}.
// IsingZZ is its two-wire case.
void m_MultiRZ(const double* p, int dim, cplx* o) {
    const cplx b = eihalf(p[0]), a = std::conj(b);
    for (int i = 0; i < dim; ++i) o[i] = (__builtin_popcount(i) & 1) ? b : a;
}
void d_MultiRZ(const double* p, int, int dim, cplx* o) {
    const cplx e = eihalf(p[0]);
    const cplx a = -0.5 * I1 * std::conj(e), b = 0.5 * I1 * e;
    for (int i = 0; i < dim; ++i) o[i] = (__builtin_popcount(i) & 1) ? b : a;
}

using G = GateId;
using SR = ShiftRule;

// The generator of a one-parameter gate: its terms.
std::vector<std::vector<GeneratorTerm>> one(std::initializer_list<GeneratorTerm> terms) { return {std::vector<GeneratorTerm>(terms)}; }

// clang-format off
const std::vector<GateSpec> kGates = {
    {G::I,       "Identity",   1, 0, 0, true,  m_I,     nullptr, SR::None, nullptr,
        "diag", {}},
    {G::H,       "Hadamard",   1, 0, 0, false, m_H,     nullptr, SR::None, nullptr,
        "dense", {}},
    {G::X,       "PauliX",     1, 0, 0, false, m_X,     nullptr, SR::None, nullptr,
        "01.10", {}},
    {G::Y,       "PauliY",     1, 0, 0, false, m_Y,     nullptr, SR::None, nullptr,
        "01.10", {}},
    {G::Z,       "PauliZ",     1, 0, 0, true,  m_Z,     nullptr, SR::None, nullptr,
        "diag", {}},
    {G::S,       "S",          1, 0, 0, true,  m_S,     nullptr, SR::None, nullptr,
        "diag", {}},
    {G::Sdg,     "Sdg",        1, 0, 0, true,  m_Sdg,   nullptr, SR::None, nullptr,
        "diag", {}},
    {G::T,       "T",          1, 0, 0, true,  m_T,     nullptr, SR::None, nullptr,
        "diag", {}},
    {G::Tdg,     "Tdg",        1, 0, 0, true,  m_Tdg,   nullptr, SR::None, nullptr,
        "diag", {}},
    {G::SX,      "SX",         1, 0, 0, false, m_SX,    nullptr, SR::None, nullptr,
        "dense", {}},
    {G::SXdg,    "SXdg",       1, 0, 0, false, m_SXdg,  nullptr, SR::None, nullptr,
        "dense", {}},
    {G::RX,      "RX",         1, 1, 0, false, m_RX,    d_RX,    SR::TwoTerm, nullptr,
        "dense", one({{0.5, "X"}})},
    {G::RY,      "RY",         1, 1, 0, false, m_RY,    d_RY,    SR::TwoTerm, nullptr,
        "dense", one({{0.5, "Y"}})},
    {G::RZ,      "RZ",         1, 1, 0, true,  m_RZ,    d_RZ,    SR::TwoTerm, nullptr,
        "diag", one({{0.5, "Z"}})},
    {G::PhaseShift, "PhaseShift", 1, 1, 0, true, m_Phase, d_Phase, SR::TwoTerm, nullptr,
        "diag", one({{0.5, "Z"}})},
    {G::Rot,     "Rot",        1, 3, 0, false, m_Rot,   d_Rot,   SR::TwoTerm, ds_Rot,
        "dense", {}},
    {G::U3,      "U3",         1, 3, 0, false, m_U3,    d_U3,    SR::TwoTerm, nullptr,
        "dense", {}},
    {G::CNOT,    "CNOT",       2, 0, 1, false, m_X,     nullptr, SR::None, nullptr,
        "01.10", {}},
    {G::CY,      "CY",         2, 0, 1, false, m_Y,     nullptr, SR::None, nullptr,
        "01.10", {}},
    {G::CZ,      "CZ",         2, 0, 0, true,  m_CZ,    nullptr, SR::None, nullptr,
        "diag", {}},
    {G::CH,      "CH",         2, 0, 1, false, m_H,     nullptr, SR::None, nullptr,
        "dense", {}},
    {G::SWAP,    "SWAP",       2, 0, 0, false, m_SWAP,  nullptr, SR::None, nullptr,
        "1000.0010.0100.0001", {}},
    {G::ISWAP,   "ISWAP",      2, 0, 0, false, m_ISWAP, nullptr, SR::None, nullptr,
        "1000.0010.0100.0001", {}},
    {G::CRX,     "CRX",        2, 1, 1, false, m_RX,    d_RX,    SR::FourTerm, nullptr,
        "dense", one({{0.25, "IX"}, {-0.25, "ZX"}})},
    {G::CRY,     "CRY",        2, 1, 1, false, m_RY,    d_RY,    SR::FourTerm, nullptr,
        "dense", one({{0.25, "IY"}, {-0.25, "ZY"}})},
    {G::CRZ,     "CRZ",        2, 1, 0, true,  m_CRZ,   d_CRZ,   SR::FourTerm, nullptr,
        "diag", one({{0.25, "IZ"}, {-0.25, "ZZ"}})},
    {G::CRot,    "CRot",       2, 3, 1, false, m_Rot,   d_Rot,   SR::FourTerm, ds_Rot,
        "dense", {}},
    {G::ControlledPhaseShift, "ControlledPhaseShift", 2, 1, 0, true, m_CPhase, d_CPhase, SR::TwoTerm, nullptr,
        "diag", one({{0.25, "ZI"}, {0.25, "IZ"}, {-0.25, "ZZ"}})},
    {G::IsingXX, "IsingXX",    2, 1, 0, false, m_XX,    d_XX,    SR::TwoTerm, nullptr,
        "1001.0110.0110.1001", one({{0.5, "XX"}})},
    {G::IsingYY, "IsingYY",    2, 1, 0, false, m_YY,    d_YY,    SR::TwoTerm, nullptr,
        "1001.0110.0110.1001", one({{0.5, "YY"}})},
    {G::IsingZZ, "IsingZZ",    2, 1, 0, true,  m_MultiRZ, d_MultiRZ, SR::TwoTerm, nullptr,
        "diag", one({{0.5, "ZZ"}})},
    {G::MultiRZ, "MultiRZ",   -1, 1, 0, true,  m_MultiRZ, d_MultiRZ, SR::TwoTerm, nullptr,
        "diag", one({{0.5, "Z"}})},
    {G::Toffoli, "Toffoli",    3, 0, 2, false, m_X,     nullptr, SR::None, nullptr,
        "01.10", {}},
    {G::CSWAP,   "CSWAP",      3, 0, 1, false, m_SWAP,  nullptr, SR::None, nullptr,
        "1000.0010.0100.0001", {}},
    {G::QubitUnitary, "QubitUnitary", -1, 0, 0, false, nullptr, nullptr, SR::None, nullptr,
        "dense", {}},
};
// clang-format on

}  // namespace

const std::vector<GateSpec>& all_gates() { return kGates; }

const GateSpec& gate_spec(GateId id) {
    int i = static_cast<int>(id);
    PYQML_REQUIRE(i >= 0 && i < static_cast<int>(kGates.size()), "unknown gate id");
    return kGates[i];
}

std::optional<GateId> gate_by_name(std::string_view name) {
    for (const auto& g : kGates)
        if (name == g.name) return g.id;
    return std::nullopt;
}

int gate_wire_count(GateId id, int requested) {
    const GateSpec& g = gate_spec(id);
    if (g.n_wires > 0) {
        PYQML_REQUIRE(requested == g.n_wires, std::string(g.name) + " acts on " +
                                                  std::to_string(g.n_wires) + " wire(s), got " +
                                                  std::to_string(requested));
        return g.n_wires;
    }
    if (id == GateId::QubitUnitary)
        PYQML_REQUIRE(requested >= 1 && requested <= 3,
                      "QubitUnitary acts on 1 to 3 wires, got " + std::to_string(requested));
    PYQML_REQUIRE(requested >= 1, std::string(g.name) + " needs at least one wire");
    return requested;
}

namespace {
std::vector<cplx> embed_block(const GateSpec& g, int n_wires, const std::vector<cplx>& block, bool deriv) {
    const int dim = 1 << n_wires;
    const int tdim = 1 << (n_wires - g.n_controls);
    std::vector<cplx> full(static_cast<size_t>(dim) * dim, 0.0);
    const int off = dim - tdim;  // the control-on block is the last tdim rows/cols
    if (!deriv)
        for (int i = 0; i < off; ++i) full[i * dim + i] = 1.0;
    for (int r = 0; r < tdim; ++r) {
        if (g.diagonal) {
            full[(off + r) * dim + off + r] = block[r];
        } else {
            for (int c = 0; c < tdim; ++c) full[(off + r) * dim + off + c] = block[r * tdim + c];
        }
    }
    return full;
}
}  // namespace

std::vector<cplx> full_matrix(GateId id, int n_wires, const double* p, const cplx* unitary) {
    const GateSpec& g = gate_spec(id);
    n_wires = gate_wire_count(id, n_wires);
    const int dim = 1 << n_wires;
    if (id == GateId::QubitUnitary) {
        PYQML_REQUIRE(unitary != nullptr, "QubitUnitary needs its matrix");
        return std::vector<cplx>(unitary, unitary + static_cast<size_t>(dim) * dim);
    }
    const int tdim = 1 << (n_wires - g.n_controls);
    std::vector<cplx> block(g.diagonal ? tdim : tdim * tdim);
    g.matrix(p, tdim, block.data());
    return embed_block(g, n_wires, block, false);
}

void fill_dmatrices(GateId id, const double* p, int dim, unsigned mask, cplx* out) {
    const GateSpec& g = gate_spec(id);
    if (g.dmatrices) {
        g.dmatrices(p, mask, dim, out);
        return;
    }
    const int block = g.diagonal ? dim : dim * dim;
    for (int k = 0; k < g.n_params; ++k)
        if (mask & (1u << k)) g.dmatrix(p, k, dim, out + k * block);
}

std::vector<cplx> full_dmatrix(GateId id, int n_wires, const double* p, int k) {
    const GateSpec& g = gate_spec(id);
    n_wires = gate_wire_count(id, n_wires);
    PYQML_REQUIRE(k >= 0 && k < g.n_params && g.dmatrix, std::string(g.name) + " has no parameter " +
                                                             std::to_string(k));
    const int tdim = 1 << (n_wires - g.n_controls);
    std::vector<cplx> block(g.diagonal ? tdim : tdim * tdim);
    g.dmatrix(p, k, tdim, block.data());
    return embed_block(g, n_wires, block, true);
}

std::vector<char> full_pattern(GateId id, int n_wires) {
    const GateSpec& g = gate_spec(id);
    n_wires = gate_wire_count(id, n_wires);
    const int dim = 1 << n_wires;
    const int tdim = 1 << (n_wires - g.n_controls);
    const int off = dim - tdim;
    std::vector<char> full(static_cast<size_t>(dim) * dim, 0);
    for (int i = 0; i < off; ++i) full[i * dim + i] = 1;
    const std::string pat = g.block_pattern;
    if (pat == "diag" || pat == "dense") {
        for (int r = 0; r < tdim; ++r)
            for (int c = 0; c < tdim; ++c)
                full[(off + r) * dim + off + c] = pat == "dense" || r == c;
        return full;
    }
    // Rows of '0'/'1' separated by '.'.
    int r = 0, c = 0;
    for (char ch : pat) {
        if (ch == '.') {
            PYQML_REQUIRE(c == tdim, std::string(g.name) + ": malformed block pattern");
            ++r;
            c = 0;
            continue;
        }
        PYQML_REQUIRE((ch == '0' || ch == '1') && r < tdim && c < tdim,
                      std::string(g.name) + ": malformed block pattern");
        full[(off + r) * dim + off + c] = ch == '1';
        ++c;
    }
    PYQML_REQUIRE(r == tdim - 1 && c == tdim, std::string(g.name) + ": malformed block pattern");
    return full;
}

bool diagonal_on_wire(GateId id, int j) {
    const GateSpec& g = gate_spec(id);
    return g.diagonal || j < g.n_controls;
}

bool pattern_diagonal_on_wire(const std::vector<char>& pattern, int k, int q) {
    const int dim = 1 << k;
    PYQML_REQUIRE(pattern.size() == static_cast<size_t>(dim) * dim && q >= 0 && q < k,
                  "pattern and wire do not match");
    const int bit = k - 1 - q;
    for (int r = 0; r < dim; ++r)
        for (int c = 0; c < dim; ++c)
            if (pattern[r * dim + c] && ((r >> bit) & 1) != ((c >> bit) & 1)) return false;
    return true;
}

}  // namespace pyqml::gates
