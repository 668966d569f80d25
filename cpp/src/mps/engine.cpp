// The MPS engine: compiling a circuit into blocks (swap network, centre moves), the row loop, and every
// forward measurement (expectations, probabilities, samples, amplitudes, entropies, overlaps).
#include <algorithm>
#include <cmath>
#include <new>
#include <random>
#include <string>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "forward.hpp"
#include "rows.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/common/threads.hpp"
#include "pyqml/tensornet/blas.hpp"

namespace pyqml::mps {

using namespace detail;

namespace {

// Operator Schmidt rank of a two-site block across its cut (an upper bound for three sites).
double schmidt_factor(const Block& b) {
    if (!b.has_gate) return 1.0;
    using gates::GateId;
    const auto& g = gates::gate_spec(b.gate);
    if (b.gate_wires == 2 && (g.n_controls >= 1 || g.diagonal || b.gate == GateId::IsingXX || b.gate == GateId::IsingYY))
        return 2.0;
    return 4.0;
}

struct Compiler {
    int n;
    std::vector<Block> raw;

    void gate(gates::GateId id, std::vector<int> wires, int angle0, int n_params, const std::vector<cplx>* unitary) {
        const int k = static_cast<int>(wires.size());
        if (k == 1) {
            Block b;
            b.lo = wires[0];
            b.k = 1;
            b.has_gate = true;
            b.gate = id;
            b.gate_wires = 1;
            b.angle0 = angle0;
            b.n_params = n_params;
            b.perm = {0};
            b.unitary = unitary;
            raw.push_back(b);
            return;
        }
        // pos[i]: current position of gate wire i. Bring them together with SWAPs, apply, swap back.
        std::vector<int> pos(wires);
        std::vector<int> swaps;  // left site of each SWAP, in order
        auto swap_at = [&](int lo) {
            swaps.push_back(lo);
            for (int& p : pos) {
                if (p == lo) p = lo + 1;
                else if (p == lo + 1) p = lo;
            }
            push_swap(lo);
        };
        std::vector<int> order(static_cast<size_t>(k));
        for (int i = 0; i < k; ++i) order[size_t(i)] = i;
        std::sort(order.begin(), order.end(), [&](int a, int b) { return pos[size_t(a)] < pos[size_t(b)]; });
        const int mid = order[size_t(k / 2)];
        // wires above the middle one move down to it, those below move up, nearest first
        for (int r = k / 2 + 1; r < k; ++r) {
            const int w = order[size_t(r)];
            while (pos[size_t(w)] > pos[size_t(mid)] + (r - k / 2)) swap_at(pos[size_t(w)] - 1);
        }
        for (int r = k / 2 - 1; r >= 0; --r) {
            const int w = order[size_t(r)];
            while (pos[size_t(w)] < pos[size_t(mid)] - (k / 2 - r)) swap_at(pos[size_t(w)]);
        }
        Block b;
        b.lo = *std::min_element(pos.begin(), pos.end());
        b.k = k;
        b.has_gate = true;
        b.gate = id;
        b.gate_wires = k;
        b.angle0 = angle0;
        b.n_params = n_params;
        b.unitary = unitary;
        b.perm.assign(size_t(k), 0);
        for (int i = 0; i < k; ++i) b.perm[size_t(pos[size_t(i)] - b.lo)] = i;
        raw.push_back(b);
        for (auto it = swaps.rbegin(); it != swaps.rend(); ++it) push_swap(*it);
    }

    void push_swap(int lo) {
        Block b;
        b.lo = lo;
        b.k = 2;
        b.has_gate = true;
        b.gate = gates::GateId::SWAP;
        b.gate_wires = 2;
        b.perm = {0, 1};
        raw.push_back(b);
    }

    // Centre moves before each multi-site block, and the side each block leaves the centre on.
    std::vector<Block> finish() {
        std::vector<Block> out;
        int center = 0;
        std::vector<size_t> multi;
        for (size_t i = 0; i < raw.size(); ++i)
            if (raw[i].k > 1) multi.push_back(i);
        size_t next_multi = 0;
        for (size_t i = 0; i < raw.size(); ++i) {
            Block b = raw[i];
            if (b.k == 1) {
                out.push_back(b);
                continue;
            }
            ++next_multi;
            const int hi = b.lo + b.k - 1;
            while (center < b.lo) {
                Block m;
                m.lo = center;
                m.k = 2;
                m.center_right = true;
                out.push_back(m);
                ++center;
            }
            while (center > hi) {
                Block m;
                m.lo = center - 1;
                m.k = 2;
                m.center_right = false;
                out.push_back(m);
                --center;
            }
            if (next_multi < multi.size()) {
                const Block& nb = raw[multi[next_multi]];
                b.center_right = nb.lo + nb.k - 1 > b.lo;
                if (nb.lo >= hi) b.center_right = true;
                else if (nb.lo + nb.k - 1 <= b.lo) b.center_right = false;
                else b.center_right = std::abs(nb.lo - hi) <= std::abs(nb.lo - b.lo);
            }
            center = b.center_right ? hi : b.lo;
            out.push_back(b);
        }
        return out;
    }
};

}  // namespace

Engine::Engine(const Circuit& circuit, std::vector<Observable> observables, Precision precision, Options options)
    : circuit_(circuit), observables_(std::move(observables)), precision_(precision), options_(options) {
    PYQML_REQUIRE(options_.max_bond >= 0, "max_bond must be a positive integer, got " + std::to_string(options_.max_bond));
    PYQML_REQUIRE(options_.cutoff >= 0 && std::isfinite(options_.cutoff),
                  "cutoff must be a non-negative number, got " + std::to_string(options_.cutoff));
    for (const auto& o : observables_) compile_observable(o, circuit_.n_wires());  // validates wires and letters
    Compiler comp{circuit_.n_wires(), {}};
    const auto& ops = circuit_.ops();
    for (size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        const int a0 = circuit_.angle_offset(i);
        const int np = static_cast<int>(op.params.size());
        if (op.gate == gates::GateId::I) continue;
        const int k = static_cast<int>(op.wires.size());
        if (op.gate == gates::GateId::MultiRZ && k > 3) {
            // exp(-i t Z..Z / 2) = CNOT ladder, RZ(t) on the last wire, ladder back.
            for (int j = 0; j + 1 < k; ++j) comp.gate(gates::GateId::CNOT, {op.wires[size_t(j)], op.wires[size_t(j + 1)]}, 0, 0, nullptr);
            comp.gate(gates::GateId::RZ, {op.wires[size_t(k - 1)]}, a0, np, nullptr);
            for (int j = k - 2; j >= 0; --j) comp.gate(gates::GateId::CNOT, {op.wires[size_t(j)], op.wires[size_t(j + 1)]}, 0, 0, nullptr);
            continue;
        }
        PYQML_REQUIRE(k <= 3, "mps: gates on at most 3 wires (op " + std::to_string(i) + " acts on " + std::to_string(k) + ")");
        comp.gate(op.gate, op.wires, a0, np, op.unitary.empty() ? nullptr : &op.unitary);
    }
    blocks_ = comp.finish();
}

std::vector<double> Engine::bond_bounds() const {
    const int n = n_wires();
    std::vector<double> prod(size_t(std::max(0, n - 1)), 1.0);
    for (const auto& b : blocks_) {
        if (b.k < 2 || !b.has_gate) continue;
        for (int c = b.lo; c < b.lo + b.k - 1; ++c) prod[size_t(c)] = std::min(1e300, prod[size_t(c)] * schmidt_factor(b));
    }
    for (int c = 0; c + 1 < n; ++c) {
        const double side = std::ldexp(1.0, std::min(std::min(c + 1, n - c - 1), 1000));
        double v = std::min(prod[size_t(c)], side);
        if (options_.max_bond > 0) v = std::min(v, double(options_.max_bond));
        prod[size_t(c)] = v;
    }
    return prod;
}

double Engine::row_bytes(bool gradient) const {
    const auto chi = bond_bounds();
    const int n = n_wires();
    const double elem = precision_ == Precision::Double ? 16.0 : 8.0;
    auto bond = [&](int c) { return (c < 0 || c >= n - 1) ? 1.0 : chi[size_t(c)]; };
    double state = 0, widest = 1;
    for (int i = 0; i < n; ++i) {
        state += 2.0 * bond(i - 1) * bond(i);
        widest = std::max(widest, bond(i));
    }
    // one block's workspace: the merged tensor, the SVD factors and copies (about 8 (2 chi)^2)
    const double work = 8.0 * 4.0 * widest * widest * 4.0;
    double bytes = (state + work) * elem;
    if (gradient) {
        double tape = 0;
        for (const auto& b : blocks_)
            for (int j = 0; j < b.k; ++j) tape += 2.0 * bond(b.lo + j - 1) * bond(b.lo + j);
        // cotangents, and left and right environments of one Pauli term at a time
        bytes += (tape + state + 4.0 * n * widest * widest + 2.0 * work) * elem;
    }
    return bytes;
}

double Engine::forward_macs() const {
    const auto chi = bond_bounds();
    const int n = n_wires();
    auto bond = [&](int c) { return (c < 0 || c >= n - 1) ? 1.0 : chi[size_t(c)]; };
    double macs = 0;
    for (const auto& b : blocks_) {
        const double l = bond(b.lo - 1), r = bond(b.lo + b.k - 1);
        if (b.k == 1) {
            macs += 4.0 * l * r;
        } else {
            const double m = 2.0 * l, nn = std::ldexp(1.0, b.k - 1) * r, mn = std::min(m, nn);
            macs += 10.0 * m * nn * mn + m * nn * std::ldexp(1.0, b.k);  // SVD and gate
        }
    }
    return macs;
}

template <class R>
void Engine::expval_t(const Batch& b, double* out, double* info) const {
    const int n = n_wires(), no = n_observables();
    const Plan plan = make_plan(blocks_, n);
    for_rows<R>(b, row_bytes(false), "expval", [&](int64_t r, const double* angles) {
        auto st = run_forward<R>(blocks_, plan, n, angles, options_);
        st.info(info + r * kInfoFields);
        const double nn = center_norm2(st, plan.center);
        for (int o = 0; o < no; ++o) {
            double v = 0;
            for (const auto& t : observables_[size_t(o)].terms)
                v += t.coeff * pauli_value_canonical(st, letters_of(t, n), plan.center).real();
            out[r * no + o] = v / nn;
        }
    });
}

void Engine::expval(const Batch& b, double* out, double* info) const {
    if (precision_ == Precision::Double) expval_t<double>(b, out, info);
    else expval_t<float>(b, out, info);
}

template <class R>
void Engine::amplitude_t(const Batch& b, const std::vector<int>& bits, cplx* out, double* info) const {
    const int n = n_wires();
    PYQML_REQUIRE(int(bits.size()) == n, "amplitude: " + std::to_string(n) + " bits needed");
    const Plan plan = make_plan(blocks_, n);
    for_rows<R>(b, row_bytes(false), "amplitude", [&](int64_t r, const double* angles) {
        auto st = run_forward<R>(blocks_, plan, n, angles, options_);
        st.info(info + r * kInfoFields);
        std::vector<C<R>> v(1, C<R>(1)), next;
        for (int i = 0; i < n; ++i) {
            const auto& A = st.s[size_t(i)];
            next.assign(size_t(A.dr), C<R>(0));
            gemm<R>(Tr::N, Tr::N, 1, A.dr, A.dl, C<R>(1), v.data(), A.dl, A.t.data() + size_t(bits[size_t(i)]) * A.dr,
                    2 * A.dr, C<R>(0), next.data(), A.dr);
            v.swap(next);
        }
        out[r] = cplx(v[0]) / std::sqrt(center_norm2(st, plan.center));
    });
}

void Engine::amplitude(const Batch& b, const std::vector<int>& bits, cplx* out, double* info) const {
    if (precision_ == Precision::Double) amplitude_t<double>(b, bits, out, info);
    else amplitude_t<float>(b, bits, out, info);
}

template <class R>
void Engine::probs_t(const Batch& b, const std::vector<int>& wires, double* out, double* info) const {
    const int n = n_wires(), k = static_cast<int>(wires.size());
    std::vector<int> slot(size_t(n), -1);  // site -> index in wires
    for (int j = 0; j < k; ++j) slot[size_t(wires[size_t(j)])] = j;
    const double envs = std::ldexp(1.0, k);
    const auto chi = bond_bounds();
    const double widest = chi.empty() ? 1.0 : *std::max_element(chi.begin(), chi.end());
    const double extra = envs * widest * widest * (precision_ == Precision::Double ? 16.0 : 8.0);
    const Plan plan = make_plan(blocks_, n);
    for_rows<R>(b, row_bytes(false) + 2 * extra, "probs", [&](int64_t r, const double* angles) {
        auto st = run_forward<R>(blocks_, plan, n, angles, options_);
        st.info(info + r * kInfoFields);
        // Left environments, one per outcome of the measured wires met so far (bits in site order).
        std::vector<std::vector<C<R>>> E(1, std::vector<C<R>>(1, C<R>(1)));
        std::vector<int> seen;  // wires' slots in site order
        std::vector<C<R>> tmp;
        for (int i = 0; i < n; ++i) {
            const auto& A = st.s[size_t(i)];
            std::vector<std::vector<C<R>>> next;
            if (slot[size_t(i)] < 0) {
                for (auto& e : E) {
                    std::vector<C<R>> o(size_t(A.dr) * A.dr);
                    transfer_left(A, e.data(), PauliAction{}, o.data(), tmp);
                    next.push_back(std::move(o));
                }
            } else {
                seen.push_back(slot[size_t(i)]);
                for (auto& e : E)
                    for (int s = 0; s < 2; ++s) {  // projector |s><s|
                        std::vector<C<R>> t(size_t(A.dl) * A.dr), o(size_t(A.dr) * A.dr);
                        gemm<R>(Tr::N, Tr::N, A.dl, A.dr, A.dl, C<R>(1), e.data(), A.dl, A.t.data() + size_t(s) * A.dr,
                                2 * A.dr, C<R>(0), t.data(), A.dr);
                        gemm<R>(Tr::H, Tr::N, A.dr, A.dr, A.dl, C<R>(1), A.t.data() + size_t(s) * A.dr, 2 * A.dr,
                                t.data(), A.dr, C<R>(0), o.data(), A.dr);
                        next.push_back(std::move(o));
                    }
            }
            E.swap(next);
        }
        double total = 0;
        for (auto& e : E) total += double(e[0].real());
        double* o = out + r * (int64_t(1) << k);
        for (size_t idx = 0; idx < E.size(); ++idx) {
            size_t outi = 0;  // idx: bits in site order (first met most significant) -> wires order
            for (int q = 0; q < k; ++q)
                if ((idx >> (k - 1 - q)) & 1) outi |= size_t(1) << (k - 1 - seen[size_t(q)]);
            o[outi] = std::max(0.0, double(E[idx][0].real()) / total);
        }
    });
}

void Engine::probs(const Batch& b, const std::vector<int>& wires, double* out, double* info) const {
    if (precision_ == Precision::Double) probs_t<double>(b, wires, out, info);
    else probs_t<float>(b, wires, out, info);
}

// Perfect sampling (Ferris & Vidal, PRB 85, 165146 (2012)): every shot draws the sites in order from
// p(s_i | s_<i) = |v A_i[s_i]|^2_R / |v|^2_R with v the prefix's row vector and R the right norm environment;
// all shots of a row advance together, one product per site.
template <class R>
void Engine::sample_t(const Batch& b, const std::vector<int>& wires, int64_t shots, uint64_t seed, int8_t* out,
                      double* info) const {
    const int n = n_wires(), k = static_cast<int>(wires.size());
    const auto chi = bond_bounds();
    const double widest = chi.empty() ? 1.0 : *std::max_element(chi.begin(), chi.end());
    const double elem = precision_ == Precision::Double ? 16.0 : 8.0;
    const double extra = (4.0 * double(shots) * widest + double(n) * widest * widest) * elem + double(shots) * n;
    const Plan plan = make_plan(blocks_, n);
    for_rows<R>(b, row_bytes(false) + extra, "sample", [&](int64_t r, const double* angles) {
        State<R> st = product_state<R>(n);
        Forward<R> fw(blocks_, plan, angles, options_);
        fw.run(st);
        st.info(info + r * kInfoFields);
        // The centre to site 0: every later site a right isometry, so the norm of what follows a prefix is
        // the plain norm of the prefix's row vector (no right environments).
        fw.move_center(st, plan.center, 0);
        std::mt19937_64 rng(seed + uint64_t(r));
        std::uniform_real_distribution<double> u(0.0, 1.0);
        const int64_t S = shots;
        std::vector<C<R>> V(size_t(S), C<R>(1)), W[2];
        std::vector<int8_t> bits(size_t(S) * n);
        // sites after the last sampled wire are marginalised by their isometries: not visited
        const int last = k ? *std::max_element(wires.begin(), wires.end()) : -1;
        for (int i = 0; i <= last; ++i) {
            const auto& A = st.s[size_t(i)];
            const int dl = A.dl, dr = A.dr;
            std::vector<double> q[2];
            for (int s = 0; s < 2; ++s) {
                W[s].assign(size_t(S) * dr, C<R>(0));
                gemm<R>(Tr::N, Tr::N, int(S), dr, dl, C<R>(1), V.data(), dl, A.t.data() + size_t(s) * dr, 2 * dr, C<R>(0),
                        W[s].data(), dr);
                q[s].assign(size_t(S), 0.0);
                for (int64_t t = 0; t < S; ++t) {
                    double acc = 0;
                    const C<R>* row = W[s].data() + size_t(t) * dr;
                    for (int c = 0; c < dr; ++c) acc += double(std::norm(row[c]));
                    q[s][size_t(t)] = std::max(0.0, acc);
                }
            }
            V.assign(size_t(S) * dr, C<R>(0));
            for (int64_t t = 0; t < S; ++t) {
                const double tot = q[0][size_t(t)] + q[1][size_t(t)];
                const int s = (u(rng) * tot < q[0][size_t(t)]) ? 0 : 1;
                bits[size_t(t) * n + i] = int8_t(s);
                const R scale = R(1.0 / std::sqrt(std::max(q[s][size_t(t)], 1e-300)));
                for (int c = 0; c < dr; ++c) V[size_t(t) * dr + c] = W[s][size_t(t) * dr + c] * scale;
            }
        }
        int8_t* o = out + r * S * k;
        for (int64_t t = 0; t < S; ++t)
            for (int j = 0; j < k; ++j) o[t * k + j] = bits[size_t(t) * n + wires[size_t(j)]];
    });
}

void Engine::sample(const Batch& b, const std::vector<int>& wires, int64_t shots, uint64_t seed, int8_t* out,
                    double* info) const {
    PYQML_REQUIRE(shots >= 1, "shots must be a positive integer");
    if (precision_ == Precision::Double) sample_t<double>(b, wires, shots, seed, out, info);
    else sample_t<float>(b, wires, shots, seed, out, info);
}

template <class R>
void Engine::entropies_t(const Batch& b, double* out, double* info) const {
    const int n = n_wires();
    const Plan plan = make_plan(blocks_, n);
    for_rows<R>(b, 2 * row_bytes(false), "entropies", [&](int64_t r, const double* angles) {
        auto st = run_forward<R>(blocks_, plan, n, angles, options_);
        st.info(info + r * kInfoFields);
        // The centre to site 0 (exact moves), then a right sweep reading each bond's Schmidt coefficients.
        int center = n - 1;
        for (int c = n - 1; c > 0; --c) {
            Block m;
            m.lo = c - 1;
            m.k = 2;
            m.center_right = false;
            run_block(m, angles, options_, st.s.data() + m.lo, static_cast<State<R>*>(nullptr),
                      static_cast<Trace<R>*>(nullptr));
        }
        center = 0;
        Svd<R> f;
        for (int i = 0; i + 1 < n; ++i) {
            const auto& A = st.s[size_t(i)];
            svd(A.dl * 2, A.dr, A.t.data(), f);
            double tot = 0, h = 0;
            for (R v : f.s) tot += double(v) * double(v);
            for (R v : f.s) {
                const double p = double(v) * double(v) / tot;
                if (p > 0) h -= p * std::log(p);
            }
            out[r * (n - 1) + i] = h;
            Block m;
            m.lo = i;
            m.k = 2;
            m.center_right = true;
            run_block(m, angles, options_, st.s.data() + i, static_cast<State<R>*>(nullptr),
                      static_cast<Trace<R>*>(nullptr));
            center = i + 1;
        }
        (void)center;
    });
}

void Engine::entropies(const Batch& b, double* out, double* info) const {
    if (precision_ == Precision::Double) entropies_t<double>(b, out, info);
    else entropies_t<float>(b, out, info);
}

// Whether two batches bind the same numbers (a Gram matrix K(X, X)): then the states are computed once and
// only the pairs i <= j contracted, <phi_j|phi_i> = conj(<phi_i|phi_j>).
static bool same_rows(const Batch& a, const Batch& b, const Circuit& c) {
    if (a.rows != b.rows || a.weights_per_row != b.weights_per_row || (a.angles == nullptr) != (b.angles == nullptr) ||
        (a.inputs == nullptr) != (b.inputs == nullptr) || (a.weights == nullptr) != (b.weights == nullptr))
        return false;
    auto eq = [](const double* x, const double* y, int64_t len) { return x == y || std::equal(x, x + len, y); };
    if (a.angles) return eq(a.angles, b.angles, a.rows * c.n_angles());
    if (a.weights && !eq(a.weights, b.weights, (a.weights_per_row ? a.rows : 1) * c.n_weights())) return false;
    return !a.inputs || eq(a.inputs, b.inputs, a.rows * c.n_inputs());
}

// <x|y> by the left transfer product E' = sum_s X[s]^H E Y[s].
template <class R>
C<R> overlap_of(const State<R>& x, const State<R>& y, std::vector<C<R>>& E, std::vector<C<R>>& next, std::vector<C<R>>& t) {
    const int n = static_cast<int>(x.s.size());
    E.assign(1, C<R>(1));
    for (int i = 0; i < n; ++i) {
        const auto& A = x.s[size_t(i)];
        const auto& B = y.s[size_t(i)];
        next.assign(size_t(A.dr) * B.dr, C<R>(0));
        t.assign(size_t(A.dl) * B.dr, C<R>(0));
        for (int s = 0; s < 2; ++s) {
            gemm<R>(Tr::N, Tr::N, A.dl, B.dr, B.dl, C<R>(1), E.data(), B.dl, B.t.data() + size_t(s) * B.dr, 2 * B.dr, C<R>(0),
                    t.data(), B.dr);
            gemm<R>(Tr::H, Tr::N, A.dr, B.dr, A.dl, C<R>(1), A.t.data() + size_t(s) * A.dr, 2 * A.dr, t.data(), B.dr,
                    C<R>(s == 0 ? 0 : 1), next.data(), B.dr);
        }
        E.swap(next);
    }
    return E[0];
}

template <class R>
void Engine::overlaps_t(const Batch& a, const Batch& b, cplx* out, double* info) const {
    const int n = n_wires();
    const double per = row_bytes(false);
    const bool same = same_rows(a, b, circuit_);
    const int64_t held = same ? a.rows : a.rows + b.rows;
    check_memory(double(held) * per, "mps overlaps: the MPS of " + std::to_string(held) + " rows");
    std::vector<State<R>> SA(size_t(a.rows)), SB(size_t(same ? 0 : b.rows));
    std::vector<double> na(size_t(a.rows)), nb(size_t(b.rows));
    const Plan plan = make_plan(blocks_, n);
    for_rows<R>(a, 0.0, "overlaps", [&](int64_t r, const double* angles) {
        SA[size_t(r)] = run_forward<R>(blocks_, plan, n, angles, options_);
        SA[size_t(r)].info(info + r * kInfoFields);
        na[size_t(r)] = center_norm2(SA[size_t(r)], plan.center);
    });
    if (same) {
        std::copy(info, info + a.rows * kInfoFields, info + a.rows * kInfoFields);
        nb = na;
    } else {
        for_rows<R>(b, 0.0, "overlaps", [&](int64_t r, const double* angles) {
            SB[size_t(r)] = run_forward<R>(blocks_, plan, n, angles, options_);
            SB[size_t(r)].info(info + (a.rows + r) * kInfoFields);
            nb[size_t(r)] = center_norm2(SB[size_t(r)], plan.center);
        });
    }
    const auto& SBr = same ? SA : SB;
    const int64_t pairs = a.rows * b.rows;
    const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads(), pairs)));
#pragma omp parallel num_threads(workers) if (workers > 1)
    {
        std::vector<C<R>> E, next, t;
#pragma omp for schedule(dynamic, 4)
        for (int64_t p = 0; p < pairs; ++p) {
            const int64_t i = p / b.rows, j = p % b.rows;
            if (same && j < i) continue;
            const cplx v = cplx(overlap_of(SA[size_t(i)], SBr[size_t(j)], E, next, t)) / std::sqrt(na[size_t(i)] * nb[size_t(j)]);
            out[p] = v;
            if (same) out[j * b.rows + i] = std::conj(v);
        }
    }
}

void Engine::overlaps(const Batch& a, const Batch& b, cplx* out, double* info) const {
    if (precision_ == Precision::Double) overlaps_t<double>(a, b, out, info);
    else overlaps_t<float>(a, b, out, info);
}

}  // namespace pyqml::mps
