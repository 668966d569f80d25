#include "pyqml/tensornet/contraction.hpp"

#include <algorithm>
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

}  // namespace

StructGate struct_gate(gates::GateId id, int n_wires) {
    StructGate g;
    g.name = gates::gate_spec(id).name;
    g.n_wires = gates::gate_wire_count(id, n_wires);
    for (int j = 0; j < g.n_wires; ++j) g.diagonal.push_back(gates::diagonal_on_wire(id, j));
    g.n_params = gates::gate_spec(id).n_params;
    return g;
}

ContractionPlan::ContractionPlan(std::vector<StructGate> gates, std::vector<Leaf> leaves, std::vector<Step> steps)
    : gates_(std::move(gates)), leaves_(std::move(leaves)) {
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
    int64_t off = 0;
    auto rank_ok = [](size_t r) {
        PYQML_REQUIRE(r <= 62, "a tensor of the plan has " + std::to_string(r) + " indices");
    };
    for (int i = 0; i < L; ++i) {
        Leaf& lf = leaves_[i];
        Slot& s = slots_[i];
        s.labels = lf.labels;
        rank_ok(s.labels.size());
        s.size = int64_t(1) << s.labels.size();
        s.offset = off;
        off += s.size;
        std::unordered_set<int> seen(s.labels.begin(), s.labels.end());
        PYQML_REQUIRE(seen.size() == s.labels.size(), "leaf " + std::to_string(i) + " repeats an index");
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
        if (lf.kind == LeafKind::Pauli || lf.kind == LeafKind::PauliDiag)
            PYQML_REQUIRE(lf.letter == 'X' || lf.letter == 'Y' || lf.letter == 'Z',
                          "leaf " + std::to_string(i) + ": Pauli letter must be X, Y or Z");
        width_ = std::max<int>(width_, s.labels.size());
    }
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
    int64_t inter = 0;
    for (size_t si = 0; si < steps.size(); ++si) {
        const Step& st = steps[si];
        const int out = L + static_cast<int>(si);
        PYQML_REQUIRE(st.a >= 0 && st.a < out && st.b >= 0 && st.b < out && st.a != st.b,
                      "step " + std::to_string(si) + ": operands must be earlier, distinct tensors");
        PYQML_REQUIRE(!used[st.a] && !used[st.b], "step " + std::to_string(si) + ": an operand is used twice");
        used[st.a] = used[st.b] = 1;
        const auto& la = slots_[st.a].labels;
        const auto& lb = slots_[st.b].labels;
        std::unordered_set<int> keep(st.keep.begin(), st.keep.end());
        std::unordered_map<int, int> pos_b;
        for (size_t j = 0; j < lb.size(); ++j) pos_b[lb[j]] = static_cast<int>(j);
        std::unordered_set<int> in_a(la.begin(), la.end());
        StepExec ex;
        ex.a = st.a;
        ex.b = st.b;
        ex.out = out;
        std::vector<int> batch_a, free_a, con_a, batch_b, con_b, free_b, out_labels;
        for (size_t j = 0; j < la.size(); ++j) {
            int l = la[j];
            bool inb = pos_b.count(l) > 0, kept = keep.count(l) > 0;
            if (inb && kept) {
                batch_a.push_back(int(j));
                batch_b.push_back(pos_b[l]);
            } else if (inb) {
                con_a.push_back(int(j));
                con_b.push_back(pos_b[l]);
            } else {
                PYQML_REQUIRE(kept, "step " + std::to_string(si) + ": index " + std::to_string(l) +
                                        " appears in one operand only and is not kept");
                free_a.push_back(int(j));
            }
        }
        for (size_t j = 0; j < lb.size(); ++j) {
            if (in_a.count(lb[j])) continue;
            PYQML_REQUIRE(keep.count(lb[j]), "step " + std::to_string(si) + ": index " + std::to_string(lb[j]) +
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
        s.offset = off;
        off += s.size;
        inter += s.size;
        width_ = std::max<int>(width_, out_labels.size());
        const double macs = double(ex.nb) * ex.m * ex.k * ex.n;
        fwd_macs_ += macs;
        need_adj_[out] = need_adj_[st.a] || need_adj_[st.b];
        if (need_adj_[st.a]) bwd_macs_ += macs;
        if (need_adj_[st.b]) bwd_macs_ += macs;
        if (!ex.id_a) scratch_a_ = std::max(scratch_a_, slots_[st.a].size);
        if (!ex.id_b) scratch_b_ = std::max(scratch_b_, slots_[st.b].size);
        if (!ex.id_a && need_adj_[st.a]) scratch_c_ = std::max(scratch_c_, slots_[st.a].size);
        if (!ex.id_b && need_adj_[st.b]) scratch_c_ = std::max(scratch_c_, slots_[st.b].size);
        table_bytes_ += 4.0 * ((ex.id_a ? 0 : slots_[st.a].size) + (ex.id_b ? 0 : slots_[st.b].size));
        steps_.push_back(std::move(ex));
    }
    PYQML_REQUIRE(slots_.back().labels.empty(), "the contraction tree does not end in a scalar");
    for (size_t i = 0; i < slots_.size(); ++i) {
        if (need_adj_[i]) {
            slots_[i].adj = off;
            off += slots_[i].size;
        }
    }
    off += scratch_a_ + scratch_b_ + scratch_c_;
    ws_elems_ = off;
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
void ContractionPlan::fill_gate(T* ws, int gate, const cplx* m) const {
    const std::vector<int>& map = gate_map_[gate];
    std::complex<T>* ket = reinterpret_cast<std::complex<T>*>(ws) + slots_[ket_leaf_[gate]].offset;
    for (size_t t = 0; t < map.size(); ++t) ket[t] = std::complex<T>(T(m[map[t]].real()), T(m[map[t]].imag()));
    if (bra_leaf_[gate] < 0) return;
    std::complex<T>* bra = reinterpret_cast<std::complex<T>*>(ws) + slots_[bra_leaf_[gate]].offset;
    for (size_t t = 0; t < map.size(); ++t) bra[t] = std::conj(ket[t]);
}

template <class T>
void ContractionPlan::fill_constants(T* ws) const {
    using C = std::complex<T>;
    C* base = reinterpret_cast<C*>(ws);
    for (size_t i = 0; i < leaves_.size(); ++i) {
        const Leaf& lf = leaves_[i];
        C* d = base + slots_[i].offset;
        switch (lf.kind) {
            case LeafKind::Zero: d[0] = 1; d[1] = 0; break;
            case LeafKind::One: d[0] = 0; d[1] = 1; break;
            case LeafKind::PauliDiag: d[0] = 1; d[1] = -1; break;
            case LeafKind::Pauli:
                // element [bra index][ket index] = <a'|P|a>
                if (lf.letter == 'X') { d[0] = 0; d[1] = 1; d[2] = 1; d[3] = 0; }
                else if (lf.letter == 'Y') { d[0] = 0; d[1] = C(0, -1); d[2] = C(0, 1); d[3] = 0; }
                else { d[0] = 1; d[1] = 0; d[2] = 0; d[3] = -1; }
                break;
            default: break;
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
std::complex<T> ContractionPlan::forward(T* ws) const {
    using C = std::complex<T>;
    C* base = reinterpret_cast<C*>(ws);
    C* sa = base + (ws_elems_ - scratch_a_ - scratch_b_ - scratch_c_);
    C* sb = sa + scratch_a_;
    for (const StepExec& ex : steps_) {
        const C* a = base + slots_[ex.a].offset;
        const C* b = base + slots_[ex.b].offset;
        C* c = base + slots_[ex.out].offset;
        if (!ex.id_a) { gather(a, ex.perm_a, sa); a = sa; }
        if (!ex.id_b) { gather(b, ex.perm_b, sb); b = sb; }
        batched_gemm<C>(ex.nb, false, false, ex.m, ex.n, ex.k, a, b, c);
    }
    return base[slots_.back().offset];
}

template <class T>
void ContractionPlan::backward(T* ws) const {
    using C = std::complex<T>;
    C* base = reinterpret_cast<C*>(ws);
    C* sa = base + (ws_elems_ - scratch_a_ - scratch_b_ - scratch_c_);
    C* sb = sa + scratch_a_;
    C* sc = sb + scratch_b_;
    if (!need_adj_.back()) return;
    base[slots_.back().adj] = C(1);
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
        const StepExec& ex = *it;
        const bool na = need_adj_[ex.a], nb = need_adj_[ex.b];
        if (!na && !nb) continue;
        const C* cbar = base + slots_[ex.out].adj;
        if (na) {
            const C* b = base + slots_[ex.b].offset;
            if (!ex.id_b) { gather(b, ex.perm_b, sb); b = sb; }
            C* abar = ex.id_a ? base + slots_[ex.a].adj : sc;
            batched_gemm<C>(ex.nb, false, true, ex.m, ex.k, ex.n, cbar, b, abar);
            if (!ex.id_a) scatter(sc, ex.perm_a, base + slots_[ex.a].adj);
        }
        if (nb) {
            const C* a = base + slots_[ex.a].offset;
            if (!ex.id_a) { gather(a, ex.perm_a, sa); a = sa; }
            C* bbar = ex.id_b ? base + slots_[ex.b].adj : sc;
            batched_gemm<C>(ex.nb, true, false, ex.k, ex.n, ex.m, a, cbar, bbar);
            if (!ex.id_b) scatter(sc, ex.perm_b, base + slots_[ex.b].adj);
        }
    }
}

template <class T>
double ContractionPlan::ket_gradient(const T* ws, int gate, const cplx* dm) const {
    const std::vector<int>& map = gate_map_[gate];
    const std::complex<T>* env = reinterpret_cast<const std::complex<T>*>(ws) + slots_[ket_leaf_[gate]].adj;
    double s = 0;
    for (size_t t = 0; t < map.size(); ++t) {
        const cplx d = dm[map[t]];
        s += double(env[t].real()) * d.real() - double(env[t].imag()) * d.imag();
    }
    return 2.0 * s;
}

#define PYQML_TN_INSTANTIATE(T)                                                             \
    template void ContractionPlan::fill_gate<T>(T*, int, const cplx*) const;              \
    template void ContractionPlan::fill_constants<T>(T*) const;                           \
    template std::complex<T> ContractionPlan::forward<T>(T*) const;                       \
    template void ContractionPlan::backward<T>(T*) const;                                 \
    template double ContractionPlan::ket_gradient<T>(const T*, int, const cplx*) const;
PYQML_TN_INSTANTIATE(double)
PYQML_TN_INSTANTIATE(float)

}  // namespace pyqml::tn
