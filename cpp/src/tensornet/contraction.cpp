#include "pyqml/tensornet/contraction.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "pyqml/common/errors.hpp"
#include "pyqml/tensornet/blas.hpp"

namespace pyqml::tn {

namespace {

// Gather table: out[o] = in[table[o]] where the result lists the source's index positions `order`.
std::vector<uint32_t> gather_table(const std::vector<int>& order, int rank) {
    const int64_t size = int64_t(1) << rank;
    std::vector<uint32_t> t(size);
    std::vector<uint32_t> stride(rank);
    for (int i = 0; i < rank; ++i) stride[i] = uint32_t(1) << (rank - 1 - order[i]);
    for (int64_t o = 0; o < size; ++o) {
        uint32_t off = 0;
        for (int i = 0; i < rank; ++i)
            if (o >> (rank - 1 - i) & 1) off += stride[i];
        t[o] = off;
    }
    return t;
}

bool is_identity(const std::vector<int>& order) {
    for (size_t i = 0; i < order.size(); ++i)
        if (order[i] != int(i)) return false;
    return true;
}

// A tensor's size and the times (inclusive) it is live.
struct Interval {
    int64_t size;
    int start, end;
};

// Offsets for intervals, visited in `order`, each clear of every placed interval it meets in time: at the
// lowest such offset (first fit) or in the smallest gap that holds it (best fit, else on top). Returns the
// buffer length.
int64_t place(const std::vector<Interval>& iv, const std::vector<int>& order, bool best_fit,
              std::vector<int64_t>& off) {
    struct Placed {
        int64_t off, end_off;
        int start, end;
    };
    off.assign(iv.size(), 0);
    std::vector<Placed> placed;  // by offset (contiguous: this scan is the allocator's hot loop)
    placed.reserve(iv.size());
    int64_t total = 0;
    for (int i : order) {
        const Interval& x = iv[i];
        int64_t cur = 0, at = -1, best_gap = 0;
        for (const Placed& p : placed) {
            if (p.end < x.start || x.end < p.start) continue;
            if (p.off > cur) {
                const int64_t gap = p.off - cur;
                if (gap >= x.size && (at < 0 || gap < best_gap)) {
                    at = cur;
                    best_gap = gap;
                    if (!best_fit || gap == x.size) break;
                }
            }
            cur = std::max(cur, p.end_off);
        }
        if (at < 0) at = cur;
        off[i] = at;
        total = std::max(total, at + x.size);
        auto pos = std::upper_bound(placed.begin(), placed.end(), at,
                                    [](int64_t v, const Placed& p) { return v < p.off; });
        placed.insert(pos, {at, at + x.size, x.start, x.end});
    }
    return total;
}

// Offsets such that two intervals live at a common time do not overlap; returns the buffer length. No
// buffer is shorter than the largest total size live at one time (the live peak). First and best fit over
// a few visiting orders: largest first (then by start), by start time (optimal when all sizes are equal),
// and while the network is moderate also largest first by longest lifetime or latest end, and shuffles
// within the size classes from a fixed seed. The shortest buffer is kept (ties: the earlier try), so the
// result is deterministic; the search stops once it reaches the live peak.
// Above this many intervals only the two main orders are tried (a wide QAOA cone's network has ~700, and
// planning thousands of them was dominated by the extra tries).
constexpr int kModerateIntervals = 512;

int64_t assign_intervals(const std::vector<Interval>& iv, std::vector<int64_t>& best) {
    const int n = static_cast<int>(iv.size());
    int64_t peak = 0;
    {
        std::vector<std::pair<int, int64_t>> ev;  // (time, +size at start / -size after end)
        ev.reserve(2 * n);
        for (const Interval& x : iv) {
            ev.emplace_back(2 * x.start, x.size);
            ev.emplace_back(2 * x.end + 1, -x.size);
        }
        std::sort(ev.begin(), ev.end());
        int64_t live = 0;
        for (auto& [t, d] : ev) peak = std::max(peak, live += d);
    }
    using Less = bool (*)(const Interval&, const Interval&);
    const Less orders[] = {
        [](const Interval& x, const Interval& y) { return x.size != y.size ? x.size > y.size : x.start < y.start; },
        [](const Interval& x, const Interval& y) { return x.start != y.start ? x.start < y.start : x.size > y.size; },
        [](const Interval& x, const Interval& y) {
            return x.size != y.size ? x.size > y.size : x.end - x.start > y.end - y.start;
        },
        [](const Interval& x, const Interval& y) { return x.size != y.size ? x.size > y.size : x.end > y.end; },
    };
    int64_t best_total = -1;
    std::vector<int> order(n);
    std::vector<int64_t> off;
    auto attempt = [&](bool best_fit) {
        const int64_t total = place(iv, order, best_fit, off);
        if (best_total < 0 || total < best_total) {
            best_total = total;
            best.swap(off);
        }
        return best_total == peak;
    };
    // Each try costs O(n^2) at worst: the two main orders always, the others while n is moderate.
    const int n_orders = n <= kModerateIntervals ? 4 : 2;
    for (int o = 0; o < n_orders; ++o) {
        const Less less = orders[o];
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return less(iv[x], iv[y]); });
        if (attempt(false) || attempt(true)) return best_total;
    }
    // Shuffles within each size class, largest first (a few, while they stay cheap).
    const int tries = n <= 256 ? 16 : 0;
    std::mt19937 rng(12345);
    std::vector<uint32_t> key(n);
    for (int k = 0; k < tries; ++k) {
        for (auto& v : key) v = rng();
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](int x, int y) {
            if (iv[x].size != iv[y].size) return iv[x].size > iv[y].size;
            return key[x] != key[y] ? key[x] < key[y] : x < y;
        });
        if (attempt(k % 2 == 1)) break;
    }
    return best_total;
}

}  // namespace

StructGate struct_channel(gates::ChannelId id, int n_wires) {
    StructGate g;
    g.name = gates::channel_spec(id).name;
    g.n_wires = 2 * n_wires;
    g.diagonal.assign(2 * n_wires, 0);
    g.n_params = gates::channel_spec(id).n_params;
    g.channel = true;
    return g;
}

StructGate struct_gate(gates::GateId id, int n_wires) {
    StructGate g;
    g.name = gates::gate_spec(id).name;
    g.n_wires = gates::gate_wire_count(id, n_wires);
    for (int j = 0; j < g.n_wires; ++j) g.diagonal.push_back(gates::diagonal_on_wire(id, j));
    g.n_params = gates::gate_spec(id).n_params;
    return g;
}

ContractionPlan::ContractionPlan(std::vector<StructGate> gates, std::vector<Leaf> leaves, std::vector<Step> steps,
                                 std::vector<int> sliced)
    : gates_(std::move(gates)), leaves_(std::move(leaves)), sliced_(std::move(sliced)) {
    const int L = static_cast<int>(leaves_.size());
    PYQML_REQUIRE(L >= 1, "a contraction plan needs at least one tensor");
    PYQML_REQUIRE(static_cast<int>(steps.size()) == L - 1,
                  "a contraction tree over " + std::to_string(L) + " tensors has " + std::to_string(L - 1) +
                      " steps, got " + std::to_string(steps.size()));
    const int G = static_cast<int>(gates_.size());
    for (int g = 0; g < G; ++g)
        PYQML_REQUIRE(gates_[g].n_wires >= 1 && static_cast<int>(gates_[g].diagonal.size()) == gates_[g].n_wires &&
                          gates_[g].n_params >= 0,
                      "gate " + std::to_string(g) + " needs one diagonal flag per wire");
    ket_leaf_.assign(G, -1);
    bra_leaf_.assign(G, -1);
    gate_map_.resize(G);
    slots_.resize(L + steps.size());
    auto rank_ok = [](size_t r) {
        PYQML_REQUIRE(r <= 62, "a tensor of the plan has " + std::to_string(r) + " indices");
    };
    PYQML_REQUIRE(sliced_.size() <= 40, "a plan slices at most 40 indices, got " + std::to_string(sliced_.size()));
    {
        std::vector<int> seen(sliced_);
        std::sort(seen.begin(), seen.end());
        PYQML_REQUIRE(std::adjacent_find(seen.begin(), seen.end()) == seen.end(), "a sliced index is repeated");
    }
    auto slice_bit = [&](int l) {
        for (size_t k = 0; k < sliced_.size(); ++k)
            if (sliced_[k] == l) return static_cast<int>(k);
        return -1;
    };
    std::vector<char> sliced_found(sliced_.size(), 0);
    red_map_.resize(L);
    slice_bits_.resize(L);
    for (int i = 0; i < L; ++i) {
        Leaf& lf = leaves_[i];
        Slot& s = slots_[i];
        rank_ok(lf.labels.size());
        {
            std::vector<int> seen(lf.labels);
            std::sort(seen.begin(), seen.end());
            PYQML_REQUIRE(std::adjacent_find(seen.begin(), seen.end()) == seen.end(),
                          "leaf " + std::to_string(i) + " repeats an index");
        }
        // The leaf's sliced tensor: its labels without the sliced ones, and where its elements sit in the full
        // tensor (the first label is the most significant bit).
        const int r = static_cast<int>(lf.labels.size());
        std::vector<int64_t> kept_w;
        for (int p = 0; p < r; ++p) {
            const int64_t w = int64_t(1) << (r - 1 - p);
            const int k = slice_bit(lf.labels[p]);
            if (k >= 0) {
                slice_bits_[i].emplace_back(k, w);
                sliced_found[k] = 1;
            } else {
                s.labels.push_back(lf.labels[p]);
                kept_w.push_back(w);
            }
        }
        s.size = int64_t(1) << s.labels.size();
        if (!slice_bits_[i].empty()) {
            const int rr = static_cast<int>(kept_w.size());
            red_map_[i].resize(size_t(s.size));
            for (int64_t t = 0; t < s.size; ++t) {
                int64_t e = 0;
                for (int q = 0; q < rr; ++q)
                    if (t >> (rr - 1 - q) & 1) e += kept_w[q];
                red_map_[i][t] = e;
            }
        }
        if (lf.kind == LeafKind::KetGate || lf.kind == LeafKind::BraGate) {
            PYQML_REQUIRE(lf.gate >= 0 && lf.gate < G, "leaf " + std::to_string(i) + ": gate out of range");
            auto& slot = lf.kind == LeafKind::KetGate ? ket_leaf_[lf.gate] : bra_leaf_[lf.gate];
            PYQML_REQUIRE(slot < 0, "gate " + std::to_string(lf.gate) + " has two leaves of one kind");
            slot = i;
            const StructGate& g = gates_[lf.gate];
            int rank = 0;
            for (int j = 0; j < g.n_wires; ++j) rank += g.diagonal[j] ? 1 : 2;
            PYQML_REQUIRE(rank == static_cast<int>(lf.labels.size()),
                          "leaf " + std::to_string(i) + " of gate " + std::to_string(lf.gate) + " needs " +
                              std::to_string(rank) + " indices");
        } else if (lf.kind == LeafKind::Zero || lf.kind == LeafKind::PauliDiag || lf.kind == LeafKind::One) {
            PYQML_REQUIRE(lf.labels.size() == 1, "leaf " + std::to_string(i) + " needs one index");
        } else if (lf.kind == LeafKind::Pauli) {
            PYQML_REQUIRE(lf.labels.size() == 2, "leaf " + std::to_string(i) + " needs two indices");
        } else {
            throw InvalidInput("leaf " + std::to_string(i) + ": unknown kind");
        }
        if (lf.kind == LeafKind::PauliDiag)
            PYQML_REQUIRE(lf.letter == 'X' || lf.letter == 'Y' || lf.letter == 'Z',
                          "leaf " + std::to_string(i) + ": Pauli letter must be X, Y or Z");
        if (lf.kind == LeafKind::Pauli)  // 'I' closes a wire that ends in a channel (network.hpp)
            PYQML_REQUIRE(lf.letter == 'I' || lf.letter == 'X' || lf.letter == 'Y' || lf.letter == 'Z',
                          "leaf " + std::to_string(i) + ": Pauli letter must be I, X, Y or Z");
        width_ = std::max<int>(width_, s.labels.size());
    }
    for (size_t k = 0; k < sliced_.size(); ++k)
        PYQML_REQUIRE(sliced_found[k], "sliced index " + std::to_string(sliced_[k]) + " is not an index of the network");
    for (int g = 0; g < G; ++g) {
        // Every gate has a ket tensor; the bra copy is absent in amplitude networks.
        PYQML_REQUIRE(ket_leaf_[g] >= 0, "gate " + std::to_string(g) + " lacks a ket leaf");
        // Tensor element -> entry of the full 2^k x 2^k matrix: per wire one bit (row = column) when the gate
        // is diagonal on it, else a row bit then a column bit; the first wire is the most significant.
        const StructGate& sg = gates_[g];
        const int k = sg.n_wires, dim = 1 << k;
        int rank = 0;
        for (int j = 0; j < k; ++j) rank += sg.diagonal[j] ? 1 : 2;
        std::vector<int>& map = gate_map_[g];
        map.resize(size_t(1) << rank);
        for (int t = 0; t < (1 << rank); ++t) {
            int bit = rank - 1, row = 0, col = 0;
            for (int j = 0; j < k; ++j) {
                int rb = (t >> bit--) & 1, cb = rb;
                if (!sg.diagonal[j]) cb = (t >> bit--) & 1;
                row = row << 1 | rb;
                col = col << 1 | cb;
            }
            map[t] = row * dim + col;
        }
    }
    // Which tensors need an environment: those holding a parametrised ket gate.
    need_adj_.assign(slots_.size(), 0);
    for (int i = 0; i < L; ++i)
        if (leaves_[i].kind == LeafKind::KetGate && gates_[leaves_[i].gate].n_params > 0)
            need_adj_[i] = 1;

    std::vector<char> used(slots_.size(), 0);
    for (size_t si = 0; si < steps.size(); ++si) {
        const Step& st = steps[si];
        const int out = L + static_cast<int>(si);
        PYQML_REQUIRE(st.a >= 0 && st.a < out && st.b >= 0 && st.b < out && st.a != st.b,
                      "step " + std::to_string(si) + ": operands must be earlier, distinct tensors");
        PYQML_REQUIRE(!used[st.a] && !used[st.b], "step " + std::to_string(si) + ": an operand is used twice");
        used[st.a] = used[st.b] = 1;
        const auto& la = slots_[st.a].labels;
        const auto& lb = slots_[st.b].labels;
        // Index lists are short (at most 62): linear scans instead of hash sets.
        std::vector<int> keep;
        for (int l : st.keep)
            if (slice_bit(l) < 0) keep.push_back(l);
        std::sort(keep.begin(), keep.end());
        keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
        auto kept_ = [&](int l) { return std::binary_search(keep.begin(), keep.end(), l); };
        auto pos_in_b = [&](int l) {
            for (size_t j = 0; j < lb.size(); ++j)
                if (lb[j] == l) return static_cast<int>(j);
            return -1;
        };
        auto in_a = [&](int l) { return std::find(la.begin(), la.end(), l) != la.end(); };
        StepExec ex;
        ex.a = st.a;
        ex.b = st.b;
        ex.out = out;
        std::vector<int> batch_a, free_a, con_a, batch_b, con_b, free_b, out_labels;
        for (size_t j = 0; j < la.size(); ++j) {
            int l = la[j];
            const int pb = pos_in_b(l);
            bool inb = pb >= 0, kept = kept_(l);
            if (inb && kept) {
                batch_a.push_back(int(j));
                batch_b.push_back(pb);
            } else if (inb) {
                con_a.push_back(int(j));
                con_b.push_back(pb);
            } else {
                PYQML_REQUIRE(kept, "step " + std::to_string(si) + ": index " + std::to_string(l) +
                                        " appears in one operand only and is not kept");
                free_a.push_back(int(j));
            }
        }
        for (size_t j = 0; j < lb.size(); ++j) {
            if (in_a(lb[j])) continue;
            PYQML_REQUIRE(kept_(lb[j]), "step " + std::to_string(si) + ": index " + std::to_string(lb[j]) +
                                                 " appears in one operand only and is not kept");
            free_b.push_back(int(j));
        }
        ex.a_order = batch_a;
        ex.a_order.insert(ex.a_order.end(), free_a.begin(), free_a.end());
        ex.a_order.insert(ex.a_order.end(), con_a.begin(), con_a.end());
        ex.b_order = batch_b;
        ex.b_order.insert(ex.b_order.end(), con_b.begin(), con_b.end());
        ex.b_order.insert(ex.b_order.end(), free_b.begin(), free_b.end());
        ex.id_a = is_identity(ex.a_order);
        ex.id_b = is_identity(ex.b_order);
        ex.nb = int64_t(1) << batch_a.size();
        ex.m = int64_t(1) << free_a.size();
        ex.k = int64_t(1) << con_a.size();
        ex.n = int64_t(1) << free_b.size();
        for (int j : batch_a) out_labels.push_back(la[j]);
        for (int j : free_a) out_labels.push_back(la[j]);
        for (int j : free_b) out_labels.push_back(lb[j]);
        PYQML_REQUIRE(out_labels.size() == keep.size(),
                      "step " + std::to_string(si) + ": keeps an index neither operand has");
        rank_ok(out_labels.size());
        Slot& s = slots_[out];
        s.labels = out_labels;
        s.size = int64_t(1) << out_labels.size();
        width_ = std::max<int>(width_, out_labels.size());
        const double macs = double(ex.nb) * ex.m * ex.k * ex.n;
        fwd_macs_ += macs;
        need_adj_[out] = need_adj_[st.a] || need_adj_[st.b];
        if (need_adj_[st.a]) bwd_macs_ += macs;
        if (need_adj_[st.b]) bwd_macs_ += macs;
        table_bytes_ += 4.0 * ((ex.id_a ? 0 : slots_[st.a].size) + (ex.id_b ? 0 : slots_[st.b].size));
        steps_.push_back(std::move(ex));
    }
    PYQML_REQUIRE(slots_.back().labels.empty(), "the contraction tree does not end in a scalar");
    step_defs_ = std::move(steps);
    assign_offsets(false);
}

void ContractionPlan::assign_offsets(bool gradients) {
    const int L = n_leaves(), S = n_steps(), T = L + S;
    const int lay = gradients ? 1 : 0;
    std::vector<int> consumer(T, -1), sibling(T, -1);
    for (int s = 0; s < S; ++s) {
        const StepExec& ex = steps_[s];
        consumer[ex.a] = consumer[ex.b] = s;
        sibling[ex.a] = ex.b;
        sibling[ex.b] = ex.a;
    }
    // Times: leaves are filled at 0, forward step s runs at s + 1, backward step s at 2S - s, the
    // gradients are read at 2S + 1. The root (the one tensor no step consumes) lives at its birth only.
    // iv[j] is placed at *dest[j].
    auto born = [&](int t) { return t < L ? 0 : t - L + 1; };
    std::vector<Interval> iv;
    std::vector<int64_t*> dest;
    iv.reserve(2 * T);
    dest.reserve(2 * T);
    for (int t = 0; t < T; ++t) {
        const int c = consumer[t];
        const int end = c < 0 ? born(t) : gradients && need_adj_[sibling[t]] ? 2 * S - c : c + 1;
        iv.push_back({slots_[t].size, born(t), end});
        dest.push_back(&slots_[t].offset[lay]);
    }
    for (int t = 0; gradients && t < T; ++t) {
        if (!need_adj_[t]) continue;
        const int c = consumer[t];
        const int start = c < 0 ? S + 1 : 2 * S - c;
        const int end = t < L ? 2 * S + 1 : 2 * S - (t - L);
        iv.push_back({slots_[t].size, start, std::max(start, end)});
        dest.push_back(&slots_[t].adj);
    }
    // Gather copies, live at their step only.
    for (int s = 0; s < S; ++s) {
        StepExec& ex = steps_[s];
        const int64_t sa = slots_[ex.a].size, sb = slots_[ex.b].size;
        if (!ex.id_a) {
            iv.push_back({sa, s + 1, s + 1});
            dest.push_back(&ex.ga[lay]);
        }
        if (!ex.id_b) {
            iv.push_back({sb, s + 1, s + 1});
            dest.push_back(&ex.gb[lay]);
        }
        if (!gradients) continue;
        const bool na = need_adj_[ex.a], nb = need_adj_[ex.b];
        const int tb = 2 * S - s;
        if (na && !ex.id_b) {
            iv.push_back({sb, tb, tb});
            dest.push_back(&ex.bgb);
        }
        if (nb && !ex.id_a) {
            iv.push_back({sa, tb, tb});
            dest.push_back(&ex.bga);
        }
        const int64_t sc = std::max<int64_t>(na && !ex.id_a ? sa : 0, nb && !ex.id_b ? sb : 0);
        if (sc > 0) {
            iv.push_back({sc, tb, tb});
            dest.push_back(&ex.bgc);
        }
    }
    std::vector<int64_t> off;
    (gradients ? ws_grad_ : ws_fwd_) = assign_intervals(iv, off);
    for (size_t j = 0; j < dest.size(); ++j) *dest[j] = off[j];
}

void ContractionPlan::gradient_layout() const {
    // Built on first use: forward-only plans (values, amplitudes) never pay for it. The gradient fields it
    // writes are read only after this returns (std::call_once orders them).
    std::call_once(grad_once_, [this] { const_cast<ContractionPlan*>(this)->assign_offsets(true); });
}

int64_t ContractionPlan::workspace_elements(bool gradients) const {
    if (!gradients) return ws_fwd_;
    gradient_layout();
    return ws_grad_;
}

void ContractionPlan::prepare() {
    if (prepared_.load()) return;
    std::lock_guard<std::mutex> lock(prepare_mutex_);
    if (prepared_.load()) return;
    for (StepExec& ex : steps_) {
        if (!ex.id_a) ex.perm_a = gather_table(ex.a_order, static_cast<int>(ex.a_order.size()));
        if (!ex.id_b) ex.perm_b = gather_table(ex.b_order, static_cast<int>(ex.b_order.size()));
    }
    prepared_ = true;
}

template <class T>
void ContractionPlan::fill_gate(T* ws, int gate, const cplx* m, bool gradients, int64_t slice) const {
    if (gradients) gradient_layout();
    const std::vector<int>& map = gate_map_[gate];
    const int kl = ket_leaf_[gate], bl = bra_leaf_[gate];
    std::complex<T>* ket = reinterpret_cast<std::complex<T>*>(ws) + slots_[kl].offset[gradients];
    const int64_t nk = slots_[kl].size;
    if (red_map_[kl].empty()) {
        for (int64_t t = 0; t < nk; ++t) ket[t] = std::complex<T>(T(m[map[t]].real()), T(m[map[t]].imag()));
    } else {
        for (int64_t t = 0; t < nk; ++t) {
            const cplx v = m[map[full_element(kl, t, slice)]];
            ket[t] = std::complex<T>(T(v.real()), T(v.imag()));
        }
    }
    if (bl < 0) return;
    std::complex<T>* bra = reinterpret_cast<std::complex<T>*>(ws) + slots_[bl].offset[gradients];
    if (red_map_[kl].empty() && red_map_[bl].empty()) {
        for (int64_t t = 0; t < nk; ++t) bra[t] = std::conj(ket[t]);
        return;
    }
    // The bra tensor's own sliced indices differ from the ket's: read the full matrix again.
    const int64_t nb = slots_[bl].size;
    for (int64_t t = 0; t < nb; ++t) {
        const cplx v = m[map[full_element(bl, t, slice)]];
        bra[t] = std::complex<T>(T(v.real()), T(-v.imag()));
    }
}

template <class T>
void ContractionPlan::fill_constants(T* ws, bool gradients, int64_t slice) const {
    if (gradients) gradient_layout();
    using C = std::complex<T>;
    C* base = reinterpret_cast<C*>(ws);
    for (size_t i = 0; i < leaves_.size(); ++i) {
        const Leaf& lf = leaves_[i];
        if (lf.kind == LeafKind::KetGate || lf.kind == LeafKind::BraGate) continue;
        C full[4];
        const bool sliced = !red_map_[i].empty();
        C* d = sliced ? full : base + slots_[i].offset[gradients];
        switch (lf.kind) {
            case LeafKind::Zero: d[0] = 1; d[1] = 0; break;
            case LeafKind::One: d[0] = 0; d[1] = 1; break;
            case LeafKind::PauliDiag: d[0] = 1; d[1] = -1; break;
            case LeafKind::Pauli:
                // element [bra index][ket index] = <a'|P|a>
                if (lf.letter == 'X') { d[0] = 0; d[1] = 1; d[2] = 1; d[3] = 0; }
                else if (lf.letter == 'Y') { d[0] = 0; d[1] = C(0, -1); d[2] = C(0, 1); d[3] = 0; }
                else if (lf.letter == 'I') { d[0] = 1; d[1] = 0; d[2] = 0; d[3] = 1; }
                else { d[0] = 1; d[1] = 0; d[2] = 0; d[3] = -1; }
                break;
            default: break;
        }
        if (sliced) {
            C* out = base + slots_[i].offset[gradients];
            for (int64_t t = 0; t < slots_[i].size; ++t) out[t] = full[full_element(static_cast<int>(i), t, slice)];
        }
    }
}

namespace {
template <class C>
void gather(const C* in, const std::vector<uint32_t>& t, C* out) {
    const int64_t n = static_cast<int64_t>(t.size());
    for (int64_t i = 0; i < n; ++i) out[i] = in[t[i]];
}
template <class C>
void scatter(const C* in, const std::vector<uint32_t>& t, C* out) {
    const int64_t n = static_cast<int64_t>(t.size());
    for (int64_t i = 0; i < n; ++i) out[t[i]] = in[i];
}
}  // namespace

template <class T>
std::complex<T> ContractionPlan::forward(T* ws, bool gradients) const {
    using C = std::complex<T>;
    C* base = reinterpret_cast<C*>(ws);
    const int lay = gradients ? 1 : 0;
    if (gradients) gradient_layout();
    for (const StepExec& ex : steps_) {
        const C* a = base + slots_[ex.a].offset[lay];
        const C* b = base + slots_[ex.b].offset[lay];
        C* c = base + slots_[ex.out].offset[lay];
        if (!ex.id_a) { gather(a, ex.perm_a, base + ex.ga[lay]); a = base + ex.ga[lay]; }
        if (!ex.id_b) { gather(b, ex.perm_b, base + ex.gb[lay]); b = base + ex.gb[lay]; }
        batched_gemm<C>(ex.nb, false, false, ex.m, ex.n, ex.k, a, b, c);
    }
    return base[slots_.back().offset[lay]];
}

template <class T>
void ContractionPlan::backward(T* ws) const {
    using C = std::complex<T>;
    C* base = reinterpret_cast<C*>(ws);
    gradient_layout();
    if (!need_adj_.back()) return;
    base[slots_.back().adj] = C(1);
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
        const StepExec& ex = *it;
        const bool na = need_adj_[ex.a], nb = need_adj_[ex.b];
        if (!na && !nb) continue;
        const C* cbar = base + slots_[ex.out].adj;
        C* sc = ex.bgc >= 0 ? base + ex.bgc : nullptr;
        if (na) {
            const C* b = base + slots_[ex.b].offset[1];
            if (!ex.id_b) { gather(b, ex.perm_b, base + ex.bgb); b = base + ex.bgb; }
            C* abar = ex.id_a ? base + slots_[ex.a].adj : sc;
            batched_gemm<C>(ex.nb, false, true, ex.m, ex.k, ex.n, cbar, b, abar);
            if (!ex.id_a) scatter(sc, ex.perm_a, base + slots_[ex.a].adj);
        }
        if (nb) {
            const C* a = base + slots_[ex.a].offset[1];
            if (!ex.id_a) { gather(a, ex.perm_a, base + ex.bga); a = base + ex.bga; }
            C* bbar = ex.id_b ? base + slots_[ex.b].adj : sc;
            batched_gemm<C>(ex.nb, true, false, ex.k, ex.n, ex.m, a, cbar, bbar);
            if (!ex.id_b) scatter(sc, ex.perm_b, base + slots_[ex.b].adj);
        }
    }
}

template <class T>
double ContractionPlan::ket_gradient(const T* ws, int gate, const cplx* dm, int64_t slice) const {
    gradient_layout();
    const std::vector<int>& map = gate_map_[gate];
    const int kl = ket_leaf_[gate];
    const std::complex<T>* env = reinterpret_cast<const std::complex<T>*>(ws) + slots_[kl].adj;
    double s = 0;
    for (int64_t t = 0; t < slots_[kl].size; ++t) {
        const cplx d = dm[map[full_element(kl, t, slice)]];
        s += double(env[t].real()) * d.real() - double(env[t].imag()) * d.imag();
    }
    return 2.0 * s;
}

#define PYQML_TN_INSTANTIATE(T)                                                             \
    template void ContractionPlan::fill_gate<T>(T*, int, const cplx*, bool, int64_t) const; \
    template void ContractionPlan::fill_constants<T>(T*, bool, int64_t) const;            \
    template std::complex<T> ContractionPlan::forward<T>(T*, bool) const;                 \
    template void ContractionPlan::backward<T>(T*) const;                                 \
    template double ContractionPlan::ket_gradient<T>(const T*, int, const cplx*, int64_t) const;
PYQML_TN_INSTANTIATE(double)
PYQML_TN_INSTANTIATE(float)

}  // namespace pyqml::tn
