#include "pyqml/tensornet/executor.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/tensornet/blas.hpp"

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

namespace pyqml::tn {

// Sizes a thread's buffer inside a parallel region; a failed allocation is recorded in `err` (the first
// one wins) as MemoryLimitExceeded naming the request, and false is returned, so that the caller rethrows
// it after the region instead of letting std::bad_alloc escape (which would terminate the process).
template <class V>
static bool allocate_workspace(V& buf, int64_t elements, std::exception_ptr& err) {
    try {
        buf.resize(static_cast<size_t>(std::max<int64_t>(0, elements)));
        return true;
    } catch (const std::bad_alloc&) {
        const double bytes = double(elements) * sizeof(typename V::value_type);
#pragma omp critical(pyqml_tn_error)
        if (!err)
            err = std::make_exception_ptr(MemoryLimitExceeded(
                "tensor-network workspace: allocating " + std::to_string(bytes) +
                    " bytes failed (out of memory; lower the batch, the threads or the memory limit)",
                bytes, memory_limit_bytes()));
        return false;
    } catch (const std::length_error&) {
        const double bytes = double(elements) * sizeof(typename V::value_type);
#pragma omp critical(pyqml_tn_error)
        if (!err)
            err = std::make_exception_ptr(MemoryLimitExceeded(
                "tensor-network workspace: " + std::to_string(bytes) + " bytes is more than can be allocated",
                bytes, memory_limit_bytes()));
        return false;
    }
}


namespace {
// A plain gate without controls bound straight into the unit cache (its matrix, and its derivative matrices
// when dm is set), with the same numbers as gates::full_matrix / full_dmatrix but no temporary vectors;
// false for the gates that need the general path (controls, QubitUnitary).
bool bind_plain(gates::GateId id, int n_wires, const double* p, cplx* m, cplx* dm) {
    if (id == gates::GateId::QubitUnitary) return false;
    const gates::GateSpec& g = gates::gate_spec(id);
    if (g.n_controls != 0 || !g.matrix) return false;
    const int dim = 1 << n_wires;
    if (!g.diagonal) {
        g.matrix(p, dim, m);
        if (dm)
            for (int k = 0; k < g.n_params; ++k) g.dmatrix(p, k, dim, dm + int64_t(k) * dim * dim);
        return true;
    }
    if (dim > 16) return false;
    cplx d[16];
    g.matrix(p, dim, d);
    std::fill(m, m + dim * dim, cplx(0));
    for (int i = 0; i < dim; ++i) m[i * dim + i] = d[i];
    if (dm)
        for (int k = 0; k < g.n_params; ++k) {
            g.dmatrix(p, k, dim, d);
            cplx* o = dm + int64_t(k) * dim * dim;
            std::fill(o, o + dim * dim, cplx(0));
            for (int i = 0; i < dim; ++i) o[i * dim + i] = d[i];
        }
    return true;
}

// Lane workspaces start on a 64-byte boundary (allocated kAlignReals more reals and aligned up).
template <class F>
constexpr int64_t kAlignReals = 64 / sizeof(F);
template <class F>
F* align64(F* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    return reinterpret_cast<F*>((a + 63) & ~uintptr_t(63));
}

// The per-call buffers of Executor::run (values, cone gradients, angles, the unit cache and its realness
// flags), kept per calling thread between calls so that a call neither allocates nor zeroes them (every entry
// a call reads it writes first); released after a call that left more than kKeptScratchBytes in them.
template <class T>
struct KeptBuffer {
    std::unique_ptr<T[]> p;
    size_t cap = 0;
    T* get(size_t n) {
        if (n > cap) {
            p.reset();
            p.reset(new T[n]);
            cap = n;
        }
        return p.get();
    }
    double bytes() const { return double(cap) * sizeof(T); }
    void release() {
        p.reset();
        cap = 0;
    }
};
struct RunScratch {
    KeptBuffer<double> vals, g, angles;
    KeptBuffer<cplx> ucache;
    KeptBuffer<char> ureal;
    double bytes() const { return vals.bytes() + g.bytes() + angles.bytes() + ucache.bytes() + ureal.bytes(); }
    void release() {
        vals.release();
        g.release();
        angles.release();
        ucache.release();
        ureal.release();
    }
};
constexpr double kKeptScratchBytes = 64.0 * (1 << 20);
RunScratch& run_scratch() {
    thread_local RunScratch s;
    return s;
}
struct ReleaseLargeScratch {
    RunScratch& s;
    ~ReleaseLargeScratch() {
        if (s.bytes() > kKeptScratchBytes) s.release();
    }
};

// Row blocks keep the per-term values and cone gradients of a block under this many doubles.
constexpr int64_t kBlockDoubles = int64_t(1) << 22;
}  // namespace

Executor::Executor(const Circuit& circuit, const std::vector<Observable>& observables, Precision precision,
                   bool fuse)
    : circuit_(circuit), fused_(circuit_, fuse), precision_(precision) {
    const auto& all_units = fused_.units();
    plain_.assign(all_units.size(), PlainGate{});
    for (size_t u = 0; u < all_units.size(); ++u) {
        if (all_units[u].fused() || all_units[u].channel) continue;  // bound through fused_.matrix
        const int oi = all_units[u].ops[0];
        const Op& op = circuit_.ops()[oi];
        plain_[u] = {op.gate, static_cast<int>(op.wires.size()), circuit_.angle_offset(oi),
                     op.unitary.empty() ? nullptr : op.unitary.data()};
    }
    LightCones lc(fused_);
    std::unordered_map<std::string, int> term_of_word, structure_of_key;
    obs_terms_.resize(observables.size());
    obs_const_.assign(observables.size(), 0.0);
    for (size_t o = 0; o < observables.size(); ++o) {
        for (const PauliTerm& pt : observables[o].terms) {
            PYQML_REQUIRE(std::isfinite(pt.coeff), "observable " + std::to_string(o) + " has a NaN or infinite coefficient");
            PYQML_REQUIRE(pt.wires.size() == pt.paulis.size(), "a Pauli word needs one letter per wire");
            // Word key: sorted (wire, letter) pairs without identities.
            std::vector<std::pair<int, char>> word;
            for (size_t i = 0; i < pt.wires.size(); ++i)
                if (pt.paulis[i] != 'I') word.emplace_back(pt.wires[i], pt.paulis[i]);
            std::sort(word.begin(), word.end());
            std::vector<int> ws;
            std::string ls, wk;
            for (auto& [w, p] : word) {
                ws.push_back(w);
                ls.push_back(p);
                wk += std::to_string(w) + p;
            }
            if (word.empty()) {
                // Still validate the letters of an all-identity word.
                for (char p : pt.paulis) PYQML_REQUIRE(p == 'I', std::string("unknown Pauli letter '") + p + "'");
                obs_const_[o] += pt.coeff;
                continue;
            }
            auto it = term_of_word.find(wk);
            int t;
            if (it == term_of_word.end()) {
                Term term;
                term.cone = lc.cone(ws, ls);
                auto sit = structure_of_key.find(term.cone.key);
                if (sit == structure_of_key.end()) {
                    Structure st;
                    st.key = term.cone.key;
                    st.n_wires = static_cast<int>(term.cone.wires.size());
                    st.letters = term.cone.letters;
                    std::unordered_map<int, int> local;
                    for (size_t i = 0; i < term.cone.wires.size(); ++i) local[term.cone.wires[i]] = int(i);
                    for (int g : term.cone.units) {
                        const Unit& u = fused_.units()[g];
                        if (u.channel)  // the superoperator on the ket and bra lines (contraction.hpp)
                            st.gates.push_back({u.name, 2 * static_cast<int>(u.wires.size()),
                                                std::vector<char>(2 * u.wires.size(), 0), u.n_params, true});
                        else
                            st.gates.push_back({u.name, static_cast<int>(u.wires.size()), u.diagonal, u.n_params});
                        std::vector<int> lw;
                        for (int w : u.wires) lw.push_back(local[w]);
                        st.gate_wires.push_back(std::move(lw));
                    }
                    sit = structure_of_key.emplace(st.key, static_cast<int>(structures_.size())).first;
                    structures_.push_back(std::move(st));
                }
                term.structure = sit->second;
                for (int g : term.cone.units) term.n_grad += fused_.units()[g].n_params;
                term.grad_offset = total_grad_;
                total_grad_ += term.n_grad;
                t = static_cast<int>(terms_.size());
                terms_.push_back(std::move(term));
                term_of_word.emplace(wk, t);
            } else {
                t = it->second;
            }
            obs_terms_[o].push_back({t, pt.coeff});
        }
    }
    grad_angle_.reserve(static_cast<size_t>(total_grad_));
    for (const Term& term : terms_) {
        for (int op : term.cone.ops)
            for (int k = 0; k < circuit_.ops()[op].n_params(); ++k) grad_angle_.push_back(circuit_.angle_offset(op) + k);
        PYQML_REQUIRE(static_cast<int64_t>(grad_angle_.size()) == term.grad_offset + term.n_grad,
                      "a light cone's gradient count does not match its ops");
    }
    plans_.resize(structures_.size());
    structure_terms_.assign(structures_.size(), {});
    for (size_t t = 0; t < terms_.size(); ++t) structure_terms_[terms_[t].structure].push_back(static_cast<int>(t));
    // The unit cache's layout: the units of some cone; those without parameters bound here once (equal
    // matrices of one unit key share one copy: a CZ layer is one matrix), the others per row.
    std::vector<char> used(all_units.size(), 0);
    for (const Term& t : terms_)
        for (int u : t.cone.units) used[u] = 1;
    unit_off_.assign(all_units.size(), -1);
    dunit_off_.assign(all_units.size(), -1);
    const_off_.assign(all_units.size(), -1);
    row_index_.assign(all_units.size(), -1);
    const_real_.assign(all_units.size(), 0);
    const std::vector<double> no_angles(std::max(1, circuit_.n_angles()), 0.0);
    std::unordered_map<std::string, std::vector<int64_t>> const_of_key;
    for (size_t u = 0; u < all_units.size(); ++u) {
        if (!used[u]) continue;
        const Unit& un = all_units[u];
        const int64_t size = int64_t(1) << ((un.channel ? 4 : 2) * un.wires.size());
        if (un.n_params == 0) {
            const auto m = fused_.matrix(static_cast<int>(u), no_angles.data());
            auto& offs = const_of_key[un.key];
            for (int64_t o : offs)
                if (std::equal(m.begin(), m.end(), const_cache_.begin() + o)) {
                    const_off_[u] = o;
                    break;
                }
            if (const_off_[u] < 0) {
                const_off_[u] = static_cast<int64_t>(const_cache_.size());
                offs.push_back(const_off_[u]);
                const_cache_.insert(const_cache_.end(), m.begin(), m.end());
            }
            const_real_[u] = std::all_of(m.begin(), m.end(), [](const cplx& v) { return v.imag() == 0.0; });
            continue;
        }
        row_index_[u] = static_cast<int>(row_units_.size());
        row_units_.push_back(static_cast<int>(u));
        row_unit_size_.push_back(static_cast<int>(size));
        unit_off_[u] = n_unit_cache_;
        n_unit_cache_ += size;
        dunit_off_[u] = n_dunit_cache_;
        n_dunit_cache_ += size * un.n_params;
    }
    unit_src_.assign(all_units.size(), 0);
    unit_realix_.assign(all_units.size(), -2);
    for (size_t u = 0; u < all_units.size(); ++u) {
        if (const_off_[u] >= 0) {
            unit_src_[u] = -1 - const_off_[u];
            unit_realix_[u] = const_real_[u] ? -1 : -2;
        } else if (unit_off_[u] >= 0) {
            unit_src_[u] = unit_off_[u];
            unit_realix_[u] = row_index_[u];
        }
    }
    batch_units_.assign(structures_.size(), {});
    for (size_t s = 0; s < structures_.size(); ++s) {
        const std::vector<int>& st = structure_terms_[s];
        const int cnt = static_cast<int>(st.size());
        if (cnt < kLanes / 2) continue;
        const size_t ng = structures_[s].gates.size();
        std::vector<int>& bu = batch_units_[s];
        bu.reserve(size_t((cnt + kLanes - 1) / kLanes) * ng * kLanes);
        for (int f = 0; f < cnt; f += kLanes)
            for (size_t j = 0; j < ng; ++j)
                for (int l = 0; l < kLanes; ++l) bu.push_back(terms_[st[std::min(f + l, cnt - 1)]].cone.units[j]);
    }
}

int64_t Executor::unit_cache_elements(bool gradients) const {
    return n_unit_cache_ + (gradients ? n_dunit_cache_ : 0);
}

double Executor::unit_cache_bytes(int64_t rows, bool gradients) const {
    const double row = double(unit_cache_elements(gradients)) * sizeof(cplx);
    return row <= kUnitCacheBytes ? double(rows) * row : 0.0;
}

int64_t Executor::block_rows(int64_t rows, bool gradients) const {
    const int64_t per_row = int64_t(terms_.size()) + (gradients ? total_grad_ : 0) + circuit_.n_angles();
    int64_t block = std::max<int64_t>(1, std::min<int64_t>(rows, kBlockDoubles / std::max<int64_t>(1, per_row)));
    const double row = double(unit_cache_elements(gradients)) * sizeof(cplx);
    if (row > 0 && row <= kUnitCacheBytes)
        block = std::max<int64_t>(1, std::min<int64_t>(block, int64_t(kUnitCacheBytes / row)));
    return block;
}

bool Executor::can_batch() const {
    if (!term_batching_) return false;
    for (const auto& p : plans_)
        if (!p || p->n_slices() != 1) return false;
    return !terms_.empty();
}

bool Executor::lane_structure(int s, bool gradients) const {
    const int elem = precision_ == Precision::Double ? 16 : 8;
    // Plans with a tensor over 2^kLaneMaxWidth elements run term by term: their pairwise steps are GEMMs big
    // enough for BLAS to beat the lane loop (the 10x10 grid's structures of 2^14-element tensors).
    return static_cast<int64_t>(structure_terms_[s].size()) >= kLanes / 2 && plans_[s] &&
           plans_[s]->width() <= kLaneMaxWidth &&
           plans_[s]->bytes_per_thread(elem, gradients) * kLanes <= kLaneWorkspaceBytes;
}

bool Executor::single_jobs(int s) const {
    const int64_t tail = static_cast<int64_t>(structure_terms_[s].size()) % kLanes;
    return tail > 0 && tail < kLanes / 2;
}

std::vector<Executor::Job> Executor::batch_jobs(int64_t rows, bool gradients) const {
    std::vector<Job> jobs;
    for (int64_t r = 0; r < rows; ++r)
        for (int s = 0; s < n_structures(); ++s) {
            const int cnt = static_cast<int>(structure_terms_[s].size());
            int f = 0;
            if (lane_structure(s, gradients)) {
                for (; f + kLanes <= cnt; f += kLanes) jobs.push_back({r, s, f, kLanes, true});
                if (cnt - f >= kLanes / 2) {
                    jobs.push_back({r, s, f, cnt - f, true});
                    f = cnt;
                }
            }
            for (; f < cnt; ++f) jobs.push_back({r, s, f, 1, false});
        }
    return jobs;
}

bool Executor::batches_terms(int64_t rows, bool gradients) const {
    if (!can_batch() || rows < 1) return false;
    if (gradients && recompute_mode_ == 2) return false;  // "always": the smallest (term-by-term) workspace
    bool any = false;
    for (int s = 0; s < n_structures(); ++s) any = any || lane_structure(s, gradients);
    if (!any) return false;
    if (unit_cache_elements(gradients) > 0 && unit_cache_bytes(1, gradients) <= 0) return false;
    return estimated_bytes(rows, gradients, true) + reserved_bytes() <= memory_limit_bytes();
}

std::vector<int64_t> Executor::structure_counts() const {
    std::vector<int64_t> c(structures_.size(), 0);
    for (const Term& t : terms_) ++c[t.structure];
    return c;
}

void Executor::set_plan(int s, std::shared_ptr<ContractionPlan> plan) {
    PYQML_REQUIRE(s >= 0 && s < n_structures(), "structure index out of range");
    PYQML_REQUIRE(plan != nullptr, "plan is None");
    const Structure& st = structures_[s];
    PYQML_REQUIRE(plan->gates().size() == st.gates.size(), "plan does not match structure " + std::to_string(s));
    for (size_t j = 0; j < st.gates.size(); ++j)
        PYQML_REQUIRE(plan->gates()[j] == st.gates[j],
                      "plan does not match structure " + std::to_string(s) + " at gate " + std::to_string(j) + " (" +
                          st.gates[j].name + ")");
    plans_[s] = std::move(plan);
}

double Executor::call_overhead(int64_t rows, bool gradients, double& threads) const {
    double tables = 0;
    for (const auto& p : plans_)
        if (p && !p->prepared()) tables += p->table_bytes();
    const int64_t pairs = rows * int64_t(terms_.size());
    // As run() spreads them: over pairs, or over the slices of each pair when pairs are fewer than threads.
    const int64_t units = pairs < max_threads() ? std::max(pairs, max_slices()) : pairs;
    threads = double(std::max<int64_t>(1, std::min<int64_t>(max_threads(), units)));
    const int64_t per_row = int64_t(terms_.size()) + (gradients ? total_grad_ : 0) + circuit_.n_angles();
    const int64_t block = block_rows(rows, gradients);
    return tables + double(block) * per_row * 8.0 + unit_cache_bytes(block, gradients) +
           double(const_cache_.size()) * sizeof(cplx);
}

std::vector<int> Executor::gradient_layouts(int64_t rows) const {
    const int elem = precision_ == Precision::Double ? 16 : 8;
    double threads = 1;
    const double fixed = call_overhead(rows, true, threads);
    // Each thread's share of what the limit leaves after the tables, the results and this thread's reservations.
    const double per_thread = (memory_limit_bytes() - reserved_bytes() - fixed) / threads;
    std::vector<int> out(plans_.size(), 1);
    for (size_t s = 0; s < plans_.size(); ++s)
        if (plans_[s]) out[s] = plans_[s]->gradient_layout_for(per_thread, elem, recompute_mode_);
    return out;
}

void Executor::set_recompute(int mode) {
    PYQML_REQUIRE(mode >= 0 && mode <= 2, "recompute mode must be 0 (auto), 1 (never) or 2 (always)");
    recompute_mode_ = mode;
}

double Executor::gradient_recompute_macs(int64_t rows) const {
    const std::vector<int> lay = gradient_layouts(rows);
    double macs = 0;
    for (const Term& t : terms_) {
        const auto& p = plans_[t.structure];
        if (p) macs += p->recompute_macs(lay[t.structure]) * double(p->n_slices());
    }
    return macs * double(rows);
}

double Executor::estimated_bytes(int64_t rows, bool gradients) const {
    return estimated_bytes(rows, gradients, batches_terms(rows, gradients));
}

double Executor::estimated_bytes(int64_t rows, bool gradients, bool batched) const {
    const int elem = precision_ == Precision::Double ? 16 : 8;
    if (batched) return batched_bytes(rows, gradients);
    // Term by term: each structure's workspace in the layout the call uses (stored values or checkpoints).
    double threads = 1;
    const double fixed = call_overhead(rows, gradients, threads);
    const std::vector<int> lay = gradients ? gradient_layouts(rows) : std::vector<int>(plans_.size(), 0);
    double per_thread = 0;
    for (size_t s = 0; s < plans_.size(); ++s)
        if (plans_[s]) per_thread = std::max(per_thread, plans_[s]->layout_bytes(elem, lay[s]));
    return threads * per_thread + fixed;
}

double Executor::batched_bytes(int64_t rows, bool gradients) const {
    // Terms in lane batches: every gradient workspace stores its values (batches_terms only batches a call
    // whose batch workspaces fit the limit).
    const bool batched = true;
    const int elem = precision_ == Precision::Double ? 16 : 8;
    double per_thread = 0, tables = 0;
    double lane_ws = 0;
    for (size_t s = 0; s < plans_.size(); ++s) {
        const auto& p = plans_[s];
        if (!p) continue;
        // A lane batch holds every tensor of the plan for kLanes terms; a thread may hold one of each kind.
        const bool lanes = batched && lane_structure(static_cast<int>(s), gradients);
        if (lanes) {
            lane_ws = std::max(lane_ws, p->bytes_per_thread(elem, gradients) * kLanes);
            tables += p->lane_table_bytes(gradients);
        }
        if (!lanes || single_jobs(static_cast<int>(s))) per_thread = std::max(per_thread, p->bytes_per_thread(elem, gradients));
        if (!p->prepared()) tables += p->table_bytes();
    }
    per_thread += lane_ws;
    int64_t units;
    if (batched) {
        // As run() spreads them: over (row, lane batch or single term).
        units = rows * static_cast<int64_t>(batch_jobs(1, gradients).size());
    } else {
        const int64_t pairs = rows * int64_t(terms_.size());
        // As run() spreads them: over pairs, or over the slices of each pair when pairs are fewer than threads.
        units = pairs < max_threads() ? std::max(pairs, max_slices()) : pairs;
    }
    const double threads = double(std::max<int64_t>(1, std::min<int64_t>(max_threads(), units)));
    const int64_t per_row = int64_t(terms_.size()) + (gradients ? total_grad_ : 0) + circuit_.n_angles();
    const int64_t block = block_rows(rows, gradients);
    return threads * per_thread + tables + double(block) * per_row * 8.0 + unit_cache_bytes(block, gradients) +
           double(const_cache_.size()) * sizeof(cplx);
}

int64_t Executor::max_slices() const {
    int64_t n = 1;
    for (const auto& p : plans_)
        if (p) n = std::max(n, p->n_slices());
    return n;
}

void Executor::angles_of_row(const Batch& b, int64_t r, double* angles) const {
    const int na = circuit_.n_angles();
    if (b.angles) {
        std::copy(b.angles + r * na, b.angles + (r + 1) * na, angles);
        return;
    }
    const double* w = b.weights_per_row ? b.weights + r * circuit_.n_weights() : b.weights;
    const double* x = b.inputs ? b.inputs + r * circuit_.n_inputs() : nullptr;
    circuit_.bind(w, x, angles);
}

template <class F, class Take>
void Executor::run(const Batch& b, bool grads, Take&& take, int64_t slice_begin, int64_t slice_end) const {
    for (size_t s = 0; s < plans_.size(); ++s)
        PYQML_REQUIRE(plans_[s] != nullptr, "structure " + std::to_string(s) + " has no contraction plan");
    const int64_t rows = b.rows;
    const int64_t nt = static_cast<int64_t>(terms_.size());
    int width = 0;
    for (const auto& p : plans_) width = std::max(width, p->width());
    // Term batches cover whole unsliced contractions: a call for a range of slices that leaves out slice 0
    // (whose share of an unsliced term is everything) runs term by term.
    const bool batched = slice_begin == 0 && slice_end != 0 && batches_terms(rows, grads);
    // Per structure, the layout of its workspace: forward only, or the gradient layout the guard checks
    // (stored values, or checkpoints and recomputation when those do not fit; a batched call stores them);
    // chosen before the tables are built, as estimated_bytes chooses it.
    const std::vector<int> layout = !grads ? std::vector<int>(plans_.size(), 0)
                                    : batched ? std::vector<int>(plans_.size(), 1)
                                              : gradient_layouts(rows);
    bool recompute = false;
    for (int l : layout) recompute = recompute || ContractionPlan::is_recompute(l);
    check_memory(estimated_bytes(rows, grads, batched),
                 "tensor-network contraction (largest tensor 2^" + std::to_string(width) + " amplitudes" +
                     (batched ? ", terms in batches of " + std::to_string(kLanes) : std::string()) +
                     (recompute ? ", gradients with checkpoints and recomputation)" : ")"));
    for (const auto& p : plans_) p->prepare();
    int64_t max_ws = 0, max_lane_ws = 0;
    for (int s = 0; s < n_structures(); ++s) {
        const bool lanes = batched && lane_structure(s, grads);
        if (lanes) max_lane_ws = std::max<int64_t>(max_lane_ws, plans_[s]->lane_workspace_reals(grads, kLanes));
        if (!lanes || single_jobs(s)) max_ws = std::max<int64_t>(max_ws, plans_[s]->layout_elements(layout[s]));
    }

    const int na = circuit_.n_angles();
    const int64_t block = block_rows(rows, grads);
    const int threads = max_threads();
    // The unit cache (bound matrices and derivatives of a block of rows), when it fits in kUnitCacheBytes.
    const bool cached = unit_cache_bytes(1, grads) > 0 || unit_cache_elements(grads) == 0;
    const int64_t stride = unit_cache_elements(grads);
    // Per row of a block and parametrised unit: whether its bound matrix is real (term batches only).
    const int64_t nu = static_cast<int64_t>(row_units_.size());
    RunScratch& scratch = run_scratch();
    ReleaseLargeScratch release_large{scratch};
    double* const vals = scratch.vals.get(size_t(block * nt));
    double* const g = scratch.g.get(size_t(grads ? block * total_grad_ : 0));
    double* const angles = scratch.angles.get(size_t(block * na));
    cplx* const ucache = cached ? scratch.ucache.get(size_t(block * stride)) : nullptr;
    char* const ureal = batched ? scratch.ureal.get(size_t(block * nu)) : nullptr;
    const auto& units = fused_.units();
    auto mat = [&](int u, int64_t r) -> const cplx* {
        return const_off_[u] >= 0 ? const_cache_.data() + const_off_[u] : ucache + r * stride + unit_off_[u];
    };
    auto dmat = [&](int u, int64_t r) -> const cplx* {
        return ucache + r * stride + n_unit_cache_ + dunit_off_[u];
    };
    for (int64_t r0 = 0; r0 < rows; r0 += block) {
        const int64_t nr = std::min(block, rows - r0);
        for (int64_t r = 0; r < nr; ++r) angles_of_row(b, r0 + r, angles + r * na);
        const int64_t pairs = nr * nt;
        const bool par = threads > 1 && pairs > 1;
        if (cached && stride > 0) {
            const int64_t chunk = 256, chunks = (nu + chunk - 1) / chunk, jobs = nr * chunks;
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1 && jobs > 1 && nr * nu > 512)
            for (int64_t q = 0; q < jobs; ++q) {
                const int64_t r = q / chunks, c0 = (q % chunks) * chunk;
                const double* ang = angles + r * na;
                cplx* row = ucache + r * stride;
                for (int64_t i = c0; i < std::min(nu, c0 + chunk); ++i) {
                    const int u = row_units_[i];
                    const PlainGate& pg = plain_[u];
                    const bool bound = pg.n_wires > 0 &&
                                       bind_plain(pg.gate, pg.n_wires, ang + pg.angle_offset, row + unit_off_[u],
                                                  grads ? row + n_unit_cache_ + dunit_off_[u] : nullptr);
                    if (!bound) {
                        const auto m = pg.n_wires > 0
                                           ? gates::full_matrix(pg.gate, pg.n_wires, ang + pg.angle_offset,
                                                                pg.unitary)
                                           : fused_.matrix(u, ang);
                        std::copy(m.begin(), m.end(), row + unit_off_[u]);
                        if (grads) {
                            const auto d = fused_.dmatrices(u, ang);
                            std::copy(d.begin(), d.end(), row + n_unit_cache_ + dunit_off_[u]);
                        }
                    }
                    if (batched) {
                        const cplx* m = row + unit_off_[u];
                        ureal[r * nu + i] =
                            std::all_of(m, m + row_unit_size_[i], [](const cplx& v) { return v.imag() == 0.0; });
                    }
                }
            }
        }
        // One contraction: slice `sl` of term t on row r, its value returned and, with gradients, the slice's
        // share of d value / d angle written to gout (the term's n_grad entries).
        auto one = [&](F* wsp, int64_t r, int64_t t, int64_t sl, double* gout) -> double {
            const Term& term = terms_[t];
            const ContractionPlan& plan = *plans_[term.structure];
            const int lay = layout[term.structure];
            const double* ang = angles + r * na;
            for (size_t j = 0; j < term.cone.units.size(); ++j) {
                const int u = term.cone.units[j];
                if (cached) {
                    plan.fill_gate(wsp, static_cast<int>(j), mat(u, r), lay, sl);
                } else if (plain_[u].n_wires > 0) {
                    const PlainGate& pg = plain_[u];
                    const auto m = gates::full_matrix(pg.gate, pg.n_wires, ang + pg.angle_offset, pg.unitary);
                    plan.fill_gate(wsp, static_cast<int>(j), m.data(), lay, sl);
                } else {
                    auto m = fused_.matrix(u, ang);
                    plan.fill_gate(wsp, static_cast<int>(j), m.data(), lay, sl);
                }
            }
            plan.fill_constants(wsp, lay, sl);
            const double v = double(plan.forward(wsp, lay).real());
            if (grads && term.n_grad > 0) {
                plan.backward(wsp, lay);
                int idx = 0;
                // Member by member, parameter by parameter: the order of cone.ops and their angles.
                for (size_t j = 0; j < term.cone.units.size(); ++j) {
                    const int uj = term.cone.units[j];
                    const Unit& u = units[uj];
                    if (u.n_params == 0) continue;
                    std::vector<cplx> dv;
                    const cplx* d = cached ? dmat(uj, r) : (dv = fused_.dmatrices(uj, ang)).data();
                    // ket_gradient is 2 Re(env . dU), counting the bra copy; a channel has none:
                    // dE/dp = Re(env . dS) (E is real for every p).
                    const size_t sz = size_t(1) << ((u.channel ? 4 : 2) * u.wires.size());
                    const double f = u.channel ? 0.5 : 1.0;
                    for (int k = 0; k < u.n_params; ++k)
                        gout[idx++] = f * plan.ket_gradient(wsp, static_cast<int>(j), d + k * sz, sl, lay);
                }
            }
            return v;
        };
        if (batched) {
            // kLanes terms of one structure at a time (the last batch padded with its first term, whose
            // results are dropped); each term's value and gradients land at its own places, so the result
            // does not depend on the threads or on which terms share a batch.
            constexpr int W = kLanes;
            std::vector<Job> jobs = batch_jobs(nr, grads);
            // Row by row in the order of the batches' first terms (structures interleaved along the observables:
            // on a chain, neighbouring batches' cones share most of their units), taken by the threads in runs
            // of consecutive jobs, so a thread reuses the bound matrices it has just read.
            std::stable_sort(jobs.begin(), jobs.end(), [&](const Job& a, const Job& b) {
                return a.r != b.r ? a.r < b.r : structure_terms_[a.s][a.first] < structure_terms_[b.s][b.first];
            });
            auto lanes = [&](F* lw, const Job& job, std::vector<const cplx*>& gp) {
                const std::vector<int>& st = structure_terms_[job.s];
                const ContractionPlan& plan = *plans_[job.s];
                const Term* tm[W];
                for (int l = 0; l < W; ++l) tm[l] = &terms_[st[job.first + std::min(l, job.count - 1)]];
                const cplx* ptr[W];
                const size_t ng = tm[0]->cone.units.size();
                const int* bu = batch_units_[job.s].data() + size_t(job.first / W) * ng * W;
                // Every gate's matrices for the lanes, and whether all of them are real (the batch then runs
                // the real lane programs: the same numbers for a quarter of the multiply-adds).
                gp.resize(ng * W);
                const cplx* urow = ucache + job.r * stride;
                const char* rreal = ureal + job.r * nu;
                const cplx* cc = const_cache_.data();
                bool real = plan.constants_real();
                for (size_t i = 0; i < ng * W; ++i) {
                    const int u = bu[i];
                    const int64_t src = unit_src_[u];
                    gp[i] = src >= 0 ? urow + src : cc + (-1 - src);
                    const int ri = unit_realix_[u];
                    real = real && (ri >= 0 ? rreal[ri] != 0 : ri == -1);
                }
                for (size_t j = 0; j < ng; ++j) plan.fill_gate_lanes<F, W>(lw, static_cast<int>(j), &gp[j * W], grads, real);
                plan.fill_constants_lanes<F, W>(lw, grads, real);
                double v[W];
                plan.forward_lanes<F, W>(lw, grads, v, real);
                for (int l = 0; l < job.count; ++l) vals[job.r * nt + st[job.first + l]] = v[l];
                if (!grads || tm[0]->n_grad == 0) return;
                plan.backward_lanes<F, W>(lw, real);
                double* gr = g + job.r * total_grad_;
                int idx = 0;
                for (size_t j = 0; j < ng; ++j) {
                    const Unit& u = units[bu[j * W]];
                    if (u.n_params == 0) continue;
                    const int64_t sz = int64_t(1) << ((u.channel ? 4 : 2) * u.wires.size());
                    const double f = u.channel ? 0.5 : 1.0;
                    for (int k = 0; k < u.n_params; ++k, ++idx) {
                        for (int l = 0; l < W; ++l) ptr[l] = dmat(bu[j * W + l], job.r) + k * sz;
                        double gv[W];
                        plan.ket_gradient_lanes<F, W>(lw, static_cast<int>(j), ptr, gv, real);
                        for (int l = 0; l < job.count; ++l) gr[tm[l]->grad_offset + idx] = f * gv[l];
                    }
                }
            };
            const int64_t nj = static_cast<int64_t>(jobs.size());
            const int team = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, nj)));
            const int run_len = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(8, nj / (8 * team))));
            std::exception_ptr err;
            set_blas_threads(1);  // see blas.hpp: the engine's GEMMs run on one BLAS thread
#pragma omp parallel if (threads > 1 && nj > 1) num_threads(team)
            {
                // Each thread's workspaces, allocated on its first job of each kind.
                std::vector<F> lw;
                std::vector<std::complex<F>> ws;
                std::vector<const cplx*> gp;
                F* lwp = nullptr;
                bool have_lw = false, have_ws = false, failed = false;
#pragma omp for schedule(dynamic, run_len)
                for (int64_t q = 0; q < nj; ++q) {
                    if (failed) continue;
                    const Job& job = jobs[q];
                    if (job.lanes && !have_lw) {
                        // 64-byte aligned: a lane block's W real parts are whole cache lines.
                        failed = !(have_lw = allocate_workspace(lw, max_lane_ws + kAlignReals<F>, err));
                        if (have_lw) lwp = align64(lw.data());
                    }
                    if (!job.lanes && !have_ws) failed = !(have_ws = allocate_workspace(ws, max_ws, err));
                    if (failed) continue;
                    try {
                        if (job.lanes) {
                            lanes(lwp, job, gp);
                        } else {
                            const int64_t t = structure_terms_[job.s][job.first];
                            double* gt = grads ? g + job.r * total_grad_ + terms_[t].grad_offset : nullptr;
                            vals[job.r * nt + t] = one(reinterpret_cast<F*>(ws.data()), job.r, t, 0, gt);
                        }
                    } catch (...) {
#pragma omp critical(pyqml_tn_error)
                        if (!err) err = std::current_exception();
                    }
                }
            }
            if (err) std::rethrow_exception(err);
            take(r0, nr, vals, g);
            continue;
        }
        // The slices of term t this call contracts: [lo, hi) of the term's plan.
        auto slice_range = [&](int64_t t) {
            const int64_t ns = plans_[terms_[t].structure]->n_slices();
            const int64_t lo = std::min(ns, slice_begin), hi = std::min(ns, slice_end < 0 ? ns : slice_end);
            return std::pair<int64_t, int64_t>(lo, std::max(lo, hi));
        };
        int64_t max_slices = 1;
        for (int64_t t = 0; t < nt; ++t) {
            const auto [lo, hi] = slice_range(t);
            max_slices = std::max(max_slices, hi - lo);
        }
        // Threads across (row, term) pairs when there are enough of them, else across the slices of each pair
        // in turn (a few big sliced terms). Either way a pair's slices are added in slice order, starting
        // from 0, so the result is the same bit for bit.
        const bool across_slices = threads > 1 && pairs < threads && max_slices > 1;
        const int team = static_cast<int>(std::max<int64_t>(
            1, std::min<int64_t>(threads, across_slices ? max_slices : pairs)));
        set_blas_threads(1);  // see blas.hpp: the engine's GEMMs run on one BLAS thread
        std::exception_ptr err;
        if (!across_slices) {
#pragma omp parallel if (par) num_threads(team)
            {
                // A failed allocation inside the parallel region must not escape it (that would terminate the
                // process): it becomes a MemoryLimitExceeded, rethrown after the region, and the thread skips
                // its share of the loop (every thread still meets the worksharing loop).
                std::vector<std::complex<F>> ws;
                const bool have_ws = allocate_workspace(ws, pairs > 0 ? max_ws : 0, err);
                F* wsp = reinterpret_cast<F*>(ws.data());
                std::vector<double> gs;
#pragma omp for schedule(dynamic, 1)
                for (int64_t q = 0; q < pairs; ++q) {
                    if (!have_ws) continue;
                    try {
                        const int64_t r = q / nt, t = q % nt;
                        const Term& term = terms_[t];
                        double* gt = grads ? g + r * total_grad_ + term.grad_offset : nullptr;
                        const auto [lo, hi] = slice_range(t);
                        if (lo == 0 && hi == 1) {
                            vals[r * nt + t] = one(wsp, r, t, 0, gt);
                            continue;
                        }
                        double v = 0;
                        if (gt) std::fill(gt, gt + term.n_grad, 0.0);
                        gs.resize(size_t(term.n_grad));
                        for (int64_t sl = lo; sl < hi; ++sl) {
                            v += one(wsp, r, t, sl, gs.data());
                            if (gt)
                                for (int k = 0; k < term.n_grad; ++k) gt[k] += gs[k];
                        }
                        vals[r * nt + t] = v;
                    } catch (...) {
#pragma omp critical(pyqml_tn_error)
                        if (!err) err = std::current_exception();
                    }
                }
            }
        } else {
            // Chunks of slices spread over the team; each chunk's results are added in slice order.
            const int64_t chunk = 4 * int64_t(team);
            int max_grad = 0;
            for (const Term& term : terms_) max_grad = std::max(max_grad, term.n_grad);
            std::vector<double> cv(chunk), cg(grads ? chunk * max_grad : 0);
#pragma omp parallel num_threads(team)
            {
                std::vector<std::complex<F>> ws;
                const bool have_ws = allocate_workspace(ws, max_ws, err);
                F* wsp = reinterpret_cast<F*>(ws.data());
                for (int64_t q = 0; q < pairs; ++q) {
                    const int64_t r = q / nt, t = q % nt;
                    const Term& term = terms_[t];
                    const auto [lo, hi] = slice_range(t);
                    double* gt = grads ? g + r * total_grad_ + term.grad_offset : nullptr;
#pragma omp single
                    {
                        vals[r * nt + t] = 0;
                        if (gt) std::fill(gt, gt + term.n_grad, 0.0);
                    }
                    for (int64_t c0 = lo; c0 < hi; c0 += chunk) {
                        const int64_t nc = std::min(chunk, hi - c0);
#pragma omp for schedule(dynamic, 1)
                        for (int64_t j = 0; j < nc; ++j) {
                            if (!have_ws) continue;
                            try {
                                cv[j] = one(wsp, r, t, c0 + j, grads ? cg.data() + j * max_grad : nullptr);
                            } catch (...) {
#pragma omp critical(pyqml_tn_error)
                                if (!err) err = std::current_exception();
                            }
                        }
#pragma omp single
                        for (int64_t j = 0; j < nc; ++j) {
                            vals[r * nt + t] += cv[j];
                            if (gt)
                                for (int k = 0; k < term.n_grad; ++k) gt[k] += cg[j * max_grad + k];
                        }
                    }
                }
            }
        }
        if (err) std::rethrow_exception(err);
        take(r0, nr, vals, g);
    }
}

void Executor::expval(const Batch& b, double* out, int64_t s0, int64_t s1) const {
    const bool with_const = s0 <= 0;
    const int no = n_observables();
    const int64_t nt = n_terms();
    auto take = [&](int64_t r0, int64_t nr, const double* vals, const double*) {
        for (int64_t r = 0; r < nr; ++r)
            for (int o = 0; o < no; ++o) {
                double s = with_const ? obs_const_[o] : 0.0;
                for (const ObsTerm& ot : obs_terms_[o]) s += ot.coeff * vals[r * nt + ot.term];
                out[(r0 + r) * no + o] = s;
            }
    };
    if (precision_ == Precision::Double) run<double>(b, false, take, std::max<int64_t>(0, s0), s1);
    else run<float>(b, false, take, std::max<int64_t>(0, s0), s1);
}

void Executor::add_term_gradient(const Term& term, double scale, const double* gt, double* dang) const {
    const int* angle = grad_angle_.data() + term.grad_offset;
    for (int k = 0; k < term.n_grad; ++k) dang[angle[k]] += scale * gt[k];
}

void Executor::jacobian_rows(int64_t r0, int64_t nr, const double* vals, const double* g, bool with_const,
                             double* vals_out, double* dw, double* dx) const {
    const int no = n_observables();
    const int64_t nt = n_terms();
    const int na = circuit_.n_angles(), nw = circuit_.n_weights(), nx = circuit_.n_inputs();
#pragma omp parallel for schedule(static) if (nr > 1)
    for (int64_t r = 0; r < nr; ++r) {
        std::vector<double> dang(na);
        for (int o = 0; o < no; ++o) {
            double s = with_const ? obs_const_[o] : 0.0;
            std::fill(dang.begin(), dang.end(), 0.0);
            for (const ObsTerm& ot : obs_terms_[o]) {
                s += ot.coeff * vals[r * nt + ot.term];
                const Term& term = terms_[ot.term];
                add_term_gradient(term, ot.coeff, g + r * total_grad_ + term.grad_offset, dang.data());
            }
            const int64_t ro = (r0 + r) * no + o;
            vals_out[ro] = s;
            double* dwr = dw ? dw + ro * nw : nullptr;
            double* dxr = dx ? dx + ro * nx : nullptr;
            if (dwr) std::fill(dwr, dwr + nw, 0.0);
            if (dxr) std::fill(dxr, dxr + nx, 0.0);
            circuit_.chain(dang.data(), dwr, dxr);
        }
    }
}

void Executor::vjp_rows(const Batch& b, const double* cot, int64_t r0, int64_t nr, const double* vals,
                        const double* g, bool with_const, double* vals_out, double* dw, double* dx) const {
    const int no = n_observables();
    const int64_t nt = n_terms();
    const int na = circuit_.n_angles(), nw = circuit_.n_weights(), nx = circuit_.n_inputs();
    for (int64_t r = 0; r < nr; ++r) {
        const int64_t row = r0 + r;
        std::vector<double> dang(na, 0.0);
        for (int o = 0; o < no; ++o) {
            double s = with_const ? obs_const_[o] : 0.0;
            const double c = cot[row * no + o];
            for (const ObsTerm& ot : obs_terms_[o]) {
                s += ot.coeff * vals[r * nt + ot.term];
                const Term& term = terms_[ot.term];
                add_term_gradient(term, c * ot.coeff, g + r * total_grad_ + term.grad_offset, dang.data());
            }
            vals_out[row * no + o] = s;
        }
        double* dwr = dw ? (b.weights_per_row ? dw + row * nw : dw) : nullptr;
        if (dwr && b.weights_per_row) std::fill(dwr, dwr + nw, 0.0);
        double* dxr = dx ? dx + row * nx : nullptr;
        if (dxr) std::fill(dxr, dxr + nx, 0.0);
        circuit_.chain(dang.data(), dwr, dxr);
    }
}

void Executor::jacobian(const Batch& b, double* vals_out, double* dw, double* dx, int64_t s0, int64_t s1) const {
    const bool with_const = s0 <= 0;
    auto take = [&](int64_t r0, int64_t nr, const double* vals, const double* g) {
        jacobian_rows(r0, nr, vals, g, with_const, vals_out, dw, dx);
    };
    if (precision_ == Precision::Double) run<double>(b, true, take, std::max<int64_t>(0, s0), s1);
    else run<float>(b, true, take, std::max<int64_t>(0, s0), s1);
}

void Executor::vjp(const Batch& b, const double* cot, double* vals_out, double* dw, double* dx, int64_t s0,
                   int64_t s1) const {
    const bool with_const = s0 <= 0;
    const int nw = circuit_.n_weights();
    if (!b.weights_per_row && dw) std::fill(dw, dw + nw, 0.0);
    auto take = [&](int64_t r0, int64_t nr, const double* vals, const double* g) {
        vjp_rows(b, cot, r0, nr, vals, g, with_const, vals_out, dw, dx);
    };
    if (precision_ == Precision::Double) run<double>(b, true, take, std::max<int64_t>(0, s0), s1);
    else run<float>(b, true, take, std::max<int64_t>(0, s0), s1);
}

namespace {
template <class F>
void amplitudes_t(const Circuit& circuit, const ContractionPlan& plan, const Batch& b, cplx* out) {
    const int na = circuit.n_angles();
    const auto& ops = circuit.ops();
    const int threads = max_threads();
    const bool par = threads > 1 && b.rows > 1;
    const int team = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, b.rows)));
    set_blas_threads(1);  // see blas.hpp: the engine's GEMMs run on one BLAS thread
    std::exception_ptr err;
#pragma omp parallel if (par) num_threads(team)
    {
        std::vector<std::complex<F>> ws;
        const bool have_ws = allocate_workspace(ws, plan.workspace_elements(false), err);
        F* wsp = reinterpret_cast<F*>(ws.data());
        std::vector<double> angles;
        const bool have_angles = have_ws && allocate_workspace(angles, na, err);
#pragma omp for schedule(dynamic, 1)
        for (int64_t r = 0; r < b.rows; ++r) {
            if (!have_angles) continue;
            try {
                if (b.angles) {
                    std::copy(b.angles + r * na, b.angles + (r + 1) * na, angles.begin());
                } else {
                    const double* w = b.weights_per_row ? b.weights + r * circuit.n_weights() : b.weights;
                    const double* x = b.inputs ? b.inputs + r * circuit.n_inputs() : nullptr;
                    circuit.bind(w, x, angles.data());
                }
                cplx v = 0;
                for (int64_t sl = 0; sl < plan.n_slices(); ++sl) {
                    for (size_t j = 0; j < ops.size(); ++j) {
                        const Op& op = ops[j];
                        auto m = gates::full_matrix(op.gate, static_cast<int>(op.wires.size()),
                                                    angles.data() + circuit.angle_offset(j),
                                                    op.unitary.empty() ? nullptr : op.unitary.data());
                        plan.fill_gate(wsp, static_cast<int>(j), m.data(), false, sl);
                    }
                    plan.fill_constants(wsp, false, sl);
                    const std::complex<F> vs = plan.forward(wsp, false);
                    v += cplx(double(vs.real()), double(vs.imag()));
                }
                out[r] = v;
            } catch (...) {
#pragma omp critical(pyqml_tn_error)
                if (!err) err = std::current_exception();
            }
        }
    }
    if (err) std::rethrow_exception(err);
}
}  // namespace

void amplitudes(const Circuit& circuit, ContractionPlan& plan, const Batch& b, Precision precision, cplx* out) {
    circuit.require_no_channels("tensornet");
    PYQML_REQUIRE(plan.gates().size() == circuit.ops().size(), "amplitude plan does not match the circuit");
    for (size_t j = 0; j < circuit.ops().size(); ++j)
        PYQML_REQUIRE(plan.gates()[j] == struct_gate(circuit.ops()[j].gate, static_cast<int>(circuit.ops()[j].wires.size())),
                      "amplitude plan does not match the circuit at op " + std::to_string(j));
    const int elem = precision == Precision::Double ? 16 : 8;
    const double threads = double(std::max<int64_t>(1, std::min<int64_t>(max_threads(), b.rows)));
    check_memory(threads * plan.bytes_per_thread(elem, false) + (plan.prepared() ? 0.0 : plan.table_bytes()),
                 "tensor-network amplitude (largest tensor 2^" + std::to_string(plan.width()) + " amplitudes)");
    plan.prepare();
    if (precision == Precision::Double) amplitudes_t<double>(circuit, plan, b, out);
    else amplitudes_t<float>(circuit, plan, b, out);
}

}  // namespace pyqml::tn
