#include "pyqml/tensornet/contraction.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "pyqml/common/errors.hpp"
#include "pyqml/tensornet/blas.hpp"

namespace pyqml::tn {

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

namespace {

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
        if (lf.kind == LeafKind::Pauli && lf.letter == 'Y') constants_real_ = false;
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
        lane_outs_[0] += double(ex.nb * ex.m * ex.n);
        lane_pairs_[0] += macs;
        if (need_adj_[st.a]) lane_outs_[1] += double(ex.nb * ex.m * ex.k), lane_pairs_[1] += macs;
        if (need_adj_[st.b]) lane_outs_[1] += double(ex.nb * ex.k * ex.n), lane_pairs_[1] += macs;
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

int64_t ContractionPlan::value_offset(int t, int layout) const {
    if (!is_recompute(layout)) {
        if (layout == 1) gradient_layout();
        return slots_[t].offset[layout];
    }
    return rc_layout(layout).leaf[t];  // leaves only: the fills
}

const ContractionPlan::RcLayout& ContractionPlan::rc_layout(int layout) const {
    const int i = layout - recompute_layout(-1);
    PYQML_REQUIRE(i >= 0 && i < kMaxRecompute, "recompute layout out of range");
    std::call_once(rc_once_[i], [this, i] {
        auto out = std::make_unique<RcLayout>();
        build_rc_layout(i - 1, *out);
        rc_[i] = std::move(out);
    });
    return *rc_[i];
}

void ContractionPlan::build_rc_layout(int c, RcLayout& out) const {
    // Instances of tensors (values, recomputed values, environments, gather copies) with their live times;
    // the ops refer to instance ids, replaced by offsets once the allocator placed them.
    const int L = n_leaves(), S = n_steps(), T = L + S;
    std::vector<Interval> iv;
    auto inst = [&](int64_t size, int time) {
        iv.push_back({size, time, time});
        return static_cast<int64_t>(iv.size() - 1);
    };
    auto use = [&](int64_t id, int time) {
        if (id >= 0) iv[id].end = std::max(iv[id].end, time);
    };
    std::vector<int> consumer(T, -1);
    for (int s = 0; s < S; ++s) consumer[steps_[s].a] = consumer[steps_[s].b] = s;
    const int64_t keep_size = c < 0 ? 0 : int64_t(1) << c;
    auto stored = [&](int t) { return t < L || slots_[t].size <= keep_size; };
    std::vector<int64_t> cur(T, -1), env(T, -1);
    std::vector<RcOp> ops;
    int time = 0;
    for (int t = 0; t < L; ++t) cur[t] = inst(slots_[t].size, 0);
    auto emit_forward = [&](int s) {
        const StepExec& ex = steps_[s];
        ++time;
        RcOp op;
        op.step = s;
        op.a = cur[ex.a];
        op.b = cur[ex.b];
        use(op.a, time);
        use(op.b, time);
        if (!ex.id_a) op.ga = inst(slots_[ex.a].size, time);
        if (!ex.id_b) op.gb = inst(slots_[ex.b].size, time);
        op.c = inst(slots_[ex.out].size, time);
        if (!stored(ex.a)) cur[ex.a] = -1;
        if (!stored(ex.b)) cur[ex.b] = -1;
        cur[ex.out] = op.c;
        ops.push_back(op);
    };
    for (int s = 0; s < S; ++s) emit_forward(s);
    out.root = ops.empty() ? cur[T - 1] : ops.back().c;
    // The backward sweep; the value of an intermediate it needs comes from its instance if still live (a
    // checkpoint), else from its subtree recomputed down to live instances.
    const size_t max_ops = size_t(kMaxScheduleFactor) * size_t(std::max(1, S)) + 64;
    out.ok = true;
    std::vector<int> stack;
    auto ensure = [&](int x) {
        // Post-order over the subtree of x down to live instances, without recursion.
        if (cur[x] >= 0) return;
        stack.assign(1, x);
        std::vector<int> order;
        while (!stack.empty()) {
            const int y = stack.back();
            stack.pop_back();
            if (cur[y] >= 0 || y < L) continue;
            order.push_back(y);
            stack.push_back(steps_[y - L].a);
            stack.push_back(steps_[y - L].b);
        }
        // Children before parents: steps in increasing order (a result's id is above its operands').
        std::sort(order.begin(), order.end());
        order.erase(std::unique(order.begin(), order.end()), order.end());
        for (int y : order) {
            if (ops.size() > max_ops) {
                out.ok = false;
                return;
            }
            const int s = y - L;
            emit_forward(s);
            out.macs += double(steps_[s].nb) * steps_[s].m * steps_[s].k * steps_[s].n;
            // Recomputed operands die after their parent (stored() tensors keep their first instance).
        }
    };
    if (need_adj_.back() && S > 0) {
        env[T - 1] = inst(1, time + 1);
        for (int s = S - 1; s >= 0 && out.ok; --s) {
            const StepExec& ex = steps_[s];
            const bool na = need_adj_[ex.a], nb = need_adj_[ex.b];
            if (!na && !nb) continue;
            if (na) ensure(ex.b);
            if (nb) ensure(ex.a);
            if (!out.ok) break;
            ++time;
            RcOp op;
            op.backward = true;
            op.step = s;
            op.cbar = env[ex.out];
            use(op.cbar, time);
            if (na) {
                op.vb = cur[ex.b];
                use(op.vb, time);
                if (!ex.id_b) op.bgb = inst(slots_[ex.b].size, time);
                op.abar = env[ex.a] = inst(slots_[ex.a].size, time);
            }
            if (nb) {
                op.va = cur[ex.a];
                use(op.va, time);
                if (!ex.id_a) op.bga = inst(slots_[ex.a].size, time);
                op.bbar = env[ex.b] = inst(slots_[ex.b].size, time);
            }
            const int64_t sc = std::max<int64_t>(na && !ex.id_a ? slots_[ex.a].size : 0,
                                                 nb && !ex.id_b ? slots_[ex.b].size : 0);
            if (sc > 0) op.bgc = inst(sc, time);
            if (!stored(ex.a)) cur[ex.a] = -1;
            if (!stored(ex.b)) cur[ex.b] = -1;
            ops.push_back(op);
        }
    }
    if (!out.ok) return;
    const int end = time + 1;
    out.leaf.assign(L, -1);
    out.adj.assign(L, -1);
    for (int t = 0; t < L; ++t) {
        iv[t].end = end;  // leaves are filled once and read by every recomputation
        if (env[t] >= 0) use(env[t], end);
    }
    std::vector<int64_t> off;
    out.total = assign_intervals(iv, off);
    auto at = [&](int64_t id) { return id < 0 ? int64_t(-1) : off[id]; };
    for (int t = 0; t < L; ++t) {
        out.leaf[t] = off[t];
        out.adj[t] = at(env[t]);
    }
    out.root = at(out.root);
    out.root_adj = at(env[T - 1]);
    for (RcOp& op : ops) {
        op.a = at(op.a); op.b = at(op.b); op.c = at(op.c); op.ga = at(op.ga); op.gb = at(op.gb);
        op.va = at(op.va); op.vb = at(op.vb); op.cbar = at(op.cbar); op.abar = at(op.abar); op.bbar = at(op.bbar);
        op.bga = at(op.bga); op.bgb = at(op.bgb); op.bgc = at(op.bgc);
    }
    out.ops = std::move(ops);
}

int64_t ContractionPlan::layout_elements(int layout) const {
    if (!is_recompute(layout)) return workspace_elements(layout == 1);
    const RcLayout& rc = rc_layout(layout);
    return rc.ok ? rc.total : -1;
}

double ContractionPlan::recompute_macs(int layout) const {
    if (!is_recompute(layout)) return 0.0;
    const RcLayout& rc = rc_layout(layout);
    return rc.ok ? rc.macs : 0.0;
}

int ContractionPlan::gradient_layout_for(double bytes, int elem, int mode) const {
    if (mode == 1) return 1;
    const double stored = layout_bytes(elem, 1);
    if (mode == 0 && stored <= bytes) return 1;
    // Every recompute layout holds the forward sweep's values at least: where the forward-only workspace does
    // not fit, none does (and none is built).
    if (mode == 0 && layout_bytes(elem, 0) > bytes) return 1;
    // Thresholds that differ: the distinct sizes of the intermediates below the widest, largest first, then none.
    std::vector<int> cs;
    for (size_t t = leaves_.size(); t < slots_.size(); ++t) {
        int w = 0;
        while ((int64_t(1) << w) < slots_[t].size) ++w;
        if (w < width_) cs.push_back(w);
    }
    std::sort(cs.begin(), cs.end(), std::greater<int>());
    cs.erase(std::unique(cs.begin(), cs.end()), cs.end());
    cs.push_back(-1);
    int best = 1;
    double best_bytes = stored;
    for (int c : cs) {
        if (c >= kMaxRecompute - 1) continue;
        const int lay = recompute_layout(c);
        const int64_t e = layout_elements(lay);
        if (e < 0) continue;
        const double b = double(e) * elem;
        if (mode == 0 && b <= bytes) return lay;
        if (b < best_bytes) {
            best = lay;
            best_bytes = b;
        }
    }
    return best;
}

template <class T>
void ContractionPlan::fill_gate(T* ws, int gate, const cplx* m, int layout, int64_t slice) const {
    const std::vector<int>& map = gate_map_[gate];
    const int kl = ket_leaf_[gate], bl = bra_leaf_[gate];
    std::complex<T>* ket = reinterpret_cast<std::complex<T>*>(ws) + value_offset(kl, layout);
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
    std::complex<T>* bra = reinterpret_cast<std::complex<T>*>(ws) + value_offset(bl, layout);
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
void ContractionPlan::fill_constants(T* ws, int layout, int64_t slice) const {
    using C = std::complex<T>;
    C* base = reinterpret_cast<C*>(ws);
    for (size_t i = 0; i < leaves_.size(); ++i) {
        const Leaf& lf = leaves_[i];
        if (lf.kind == LeafKind::KetGate || lf.kind == LeafKind::BraGate) continue;
        C full[4];
        const bool sliced = !red_map_[i].empty();
        C* d = sliced ? full : base + value_offset(static_cast<int>(i), layout);
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
            C* out = base + value_offset(static_cast<int>(i), layout);
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

template <class C>
void ContractionPlan::forward_step(C* base, const StepExec& ex, int64_t ao, int64_t bo, int64_t co, int64_t ga,
                                   int64_t gb) const {
    const C* a = base + ao;
    const C* b = base + bo;
    if (!ex.id_a) { gather(a, ex.perm_a, base + ga); a = base + ga; }
    if (!ex.id_b) { gather(b, ex.perm_b, base + gb); b = base + gb; }
    batched_gemm<C>(ex.nb, false, false, ex.m, ex.n, ex.k, a, b, base + co);
}

template <class C>
void ContractionPlan::backward_step(C* base, const StepExec& ex, int64_t va, int64_t vb, int64_t cbar_o,
                                    int64_t abar_o, int64_t bbar_o, int64_t bga, int64_t bgb, int64_t bgc) const {
    const C* cbar = base + cbar_o;
    C* sc = bgc >= 0 ? base + bgc : nullptr;
    if (abar_o >= 0) {
        const C* b = base + vb;
        if (!ex.id_b) { gather(b, ex.perm_b, base + bgb); b = base + bgb; }
        C* abar = ex.id_a ? base + abar_o : sc;
        batched_gemm<C>(ex.nb, false, true, ex.m, ex.k, ex.n, cbar, b, abar);
        if (!ex.id_a) scatter(sc, ex.perm_a, base + abar_o);
    }
    if (bbar_o >= 0) {
        const C* a = base + va;
        if (!ex.id_a) { gather(a, ex.perm_a, base + bga); a = base + bga; }
        C* bbar = ex.id_b ? base + bbar_o : sc;
        batched_gemm<C>(ex.nb, true, false, ex.k, ex.n, ex.m, a, cbar, bbar);
        if (!ex.id_b) scatter(sc, ex.perm_b, base + bbar_o);
    }
}

template <class T>
std::complex<T> ContractionPlan::forward(T* ws, int layout) const {
    using C = std::complex<T>;
    C* base = reinterpret_cast<C*>(ws);
    if (is_recompute(layout)) {
        const RcLayout& rc = rc_layout(layout);
        PYQML_REQUIRE(rc.ok, "recompute layout not available for this plan");
        for (int s = 0; s < n_steps(); ++s) {
            const RcOp& op = rc.ops[s];
            forward_step(base, steps_[op.step], op.a, op.b, op.c, op.ga, op.gb);
        }
        return base[rc.root];
    }
    const int lay = layout == 1 ? 1 : 0;
    if (lay) gradient_layout();
    for (const StepExec& ex : steps_)
        forward_step(base, ex, slots_[ex.a].offset[lay], slots_[ex.b].offset[lay], slots_[ex.out].offset[lay],
                     ex.ga[lay], ex.gb[lay]);
    return base[slots_.back().offset[lay]];
}

template <class T>
void ContractionPlan::backward(T* ws, int layout) const {
    using C = std::complex<T>;
    C* base = reinterpret_cast<C*>(ws);
    if (!need_adj_.back()) return;
    if (is_recompute(layout)) {
        const RcLayout& rc = rc_layout(layout);
        PYQML_REQUIRE(rc.ok, "recompute layout not available for this plan");
        if (rc.root_adj >= 0) base[rc.root_adj] = C(1);
        for (size_t i = size_t(n_steps()); i < rc.ops.size(); ++i) {
            const RcOp& op = rc.ops[i];
            if (op.backward)
                backward_step(base, steps_[op.step], op.va, op.vb, op.cbar, op.abar, op.bbar, op.bga, op.bgb, op.bgc);
            else
                forward_step(base, steps_[op.step], op.a, op.b, op.c, op.ga, op.gb);
        }
        return;
    }
    gradient_layout();
    base[slots_.back().adj] = C(1);
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
        const StepExec& ex = *it;
        const bool na = need_adj_[ex.a], nb = need_adj_[ex.b];
        if (!na && !nb) continue;
        backward_step(base, ex, nb ? slots_[ex.a].offset[1] : -1, na ? slots_[ex.b].offset[1] : -1, slots_[ex.out].adj,
                      na ? slots_[ex.a].adj : -1, nb ? slots_[ex.b].adj : -1, ex.bga, ex.bgb, ex.bgc);
    }
}

template <class T>
double ContractionPlan::ket_gradient(const T* ws, int gate, const cplx* dm, int64_t slice, int layout) const {
    const std::vector<int>& map = gate_map_[gate];
    const int kl = ket_leaf_[gate];
    int64_t adj;
    if (is_recompute(layout)) {
        adj = rc_layout(layout).adj[kl];
    } else {
        gradient_layout();
        adj = slots_[kl].adj;
    }
    const std::complex<T>* env = reinterpret_cast<const std::complex<T>*>(ws) + adj;
    double s = 0;
    for (int64_t t = 0; t < slots_[kl].size; ++t) {
        const cplx d = dm[map[full_element(kl, t, slice)]];
        s += double(env[t].real()) * d.real() - double(env[t].imag()) * d.imag();
    }
    return 2.0 * s;
}

#define PYQML_TN_INSTANTIATE(T)                                                             \
    template void ContractionPlan::fill_gate<T>(T*, int, const cplx*, int, int64_t) const;  \
    template void ContractionPlan::fill_constants<T>(T*, int, int64_t) const;             \
    template std::complex<T> ContractionPlan::forward<T>(T*, int) const;                  \
    template void ContractionPlan::backward<T>(T*, int) const;                            \
    template double ContractionPlan::ket_gradient<T>(const T*, int, const cplx*, int64_t, int) const;
PYQML_TN_INSTANTIATE(double)
PYQML_TN_INSTANTIATE(float)

}  // namespace pyqml::tn
