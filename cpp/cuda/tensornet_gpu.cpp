// cuda::TensorNet: the tensor-network method's contractions on one GPU (tensornet_gpu.hpp), from the plans of
// a CPU tn::Executor.
//
// Per call, a block of rows at a time:
//   host:   every row's angles and the bound matrices (and derivatives) of the units its cones use, in the
//           executor's unit-cache layout, copied to the device once;
//   device: per structure, its items (row x term x slice) in groups; per group the leaves are filled from
//           the bound matrices (tn_fill), the plan's forward steps run as strided-batched GEMMs with the
//           gathers as kernels, the roots give the values, and with gradients the backward steps of the same
//           layout (stored values, or checkpoints and recomputation) give every parametrised ket gate's
//           environment, contracted with the derivative matrices (tn_grads); a last kernel adds the items
//           to their (row, term) results in slice order;
//   host:   the (row, term) values and cone-angle gradients come back and are combined into observables and
//           weight / input gradients exactly as the CPU executor does.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <complex>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "cublas.hpp"
#include "device_buffer.hpp"
#include "kernels.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/cuda/tensornet_gpu.hpp"
#include "pyqml/gates/gate_table.hpp"
#include "tn_kernels.hpp"

namespace pyqml::cuda {

using tn::ContractionPlan;
using tn::Executor;
using tn::LeafKind;

namespace {
// Rows per block: the per-term values and cone gradients under this many doubles (as the CPU executor),
// and the block's bound matrices under kRowBytes.
constexpr int64_t kBlockDoubles = int64_t(1) << 22;
constexpr double kRowBytes = 256.0 * (1 << 20);
// A group's workspace: at most this, and at most half of what the guard found free.
constexpr double kMaxGroupBytes = 4.0 * (1 << 30);
// Batches per cuBLAS call (its grid's limit on some versions).
constexpr int64_t kMaxGemmBatch = 65535;
}  // namespace

class TnDevice {
public:
    TnDevice(const Executor& ex, int device) : ex_(ex), device_(device) {
        std::string why;
        if (!available(&why)) throw InvalidInput("device=\"gpu\": " + why);
        const int count = device_count();
        PYQML_REQUIRE(device >= 0 && device < count, "CUDA device " + std::to_string(device) + " does not exist (" +
                                                         std::to_string(count) + " device(s) present)");
        const std::string cw = load_cublas();
        if (!cw.empty()) throw InvalidInput("device=\"gpu\" on the tensor network: " + cw);
        cb_ = &cublas();
        check(cudaSetDevice(device_), "cudaSetDevice");
        check_cublas(cb_->create(&handle_), "cublasCreate");
        try {
            upload(d_consts_, ex_.const_cache_.data(), ex_.const_cache_.size() * sizeof(cplx),
                   "uploading the constant gate matrices");
            build_terms();
        } catch (...) {
            cb_->destroy(handle_);  // the destructor does not run for a constructor that throws
            throw;
        }
    }

    ~TnDevice() {
        cudaSetDevice(device_);
        if (handle_) cb_->destroy(handle_);
    }

    TnDevice(const TnDevice&) = delete;
    TnDevice& operator=(const TnDevice&) = delete;

    const Executor& ex_;
    const int device_;
    mutable std::mutex mutex_;

    // ---------------------------------------------------------------------------------------------
    // One plan on the device
    // ---------------------------------------------------------------------------------------------

    // A step of a layout's schedule with resolved offsets (contraction.hpp: RcOp; layouts 0 and 1 written the
    // same way from the plan's slots).
    struct Op {
        bool backward = false;
        int step = 0;
        int64_t a = -1, b = -1, c = -1, ga = -1, gb = -1;
        int64_t va = -1, vb = -1, cbar = -1, abar = -1, bbar = -1, bga = -1, bgb = -1, bgc = -1;
    };
    struct Layout {
        int id = -1;
        int64_t total = 0;
        std::vector<Op> ops;  // the forward sweep (n_steps), then the backward sweep
        int64_t root = 0, root_adj = -1;
        DeviceBuffer d_leaf_off, d_leaf_adj;
    };
    struct Plan {
        const ContractionPlan* plan = nullptr;    // the executor's plan these tables were built from
        std::shared_ptr<ContractionPlan> keep;    // kept alive while the tables exist
        std::vector<int64_t> pa, pb;              // per step: its gather table in d_perm (-1: identity)
        DeviceBuffer d_perm, d_leaves, d_elem_leaf, d_red, d_gmap, d_bits, d_grads;
        int64_t e_total = 0;
        int ng = 0;
        std::vector<std::unique_ptr<Layout>> layouts;
    };
    // Per structure: its terms' matrix sources (terms x gates) and result places.
    struct Terms {
        int64_t count = 0;
        DeviceBuffer d_src, d_dsrc, d_id, d_goff;
    };

    std::vector<std::unique_ptr<Plan>> plans_;
    std::vector<std::unique_ptr<Terms>> terms_;
    const Cublas* cb_ = nullptr;
    CublasHandle handle_ = nullptr;
    DeviceBuffer d_consts_;
    // Per-call workspaces, kept between calls (grown on demand).
    DeviceBuffer d_rows_, d_vals_, d_g_, d_ws_, d_item_v_, d_item_g_;

    int elem_bytes() const { return ex_.precision_ == Precision::Double ? 16 : 8; }

    // Device bytes of a plan's tables (what build_plan uploads).
    static double table_bytes(const ContractionPlan& P) {
        double b = 0;
        for (const auto& ex : P.steps_)
            b += 4.0 * double((ex.id_a ? 0 : P.slots_[ex.a].size) + (ex.id_b ? 0 : P.slots_[ex.b].size));
        for (int i = 0; i < P.n_leaves(); ++i)
            b += sizeof(TnLeaf) + 4.0 * P.slots_[i].size + 8.0 * P.red_map_[i].size() + 16.0 * P.slice_bits_[i].size();
        for (const auto& m : P.gate_map_) b += 4.0 * m.size();
        for (const auto& g : P.gates_) b += double(sizeof(TnGrad)) * g.n_params;
        // Both layouts' leaf offset tables.
        return b + 2.0 * 16.0 * P.n_leaves();
    }

    void build_terms() {
        const int S = ex_.n_structures();
        terms_.clear();
        for (int s = 0; s < S; ++s) {
            const std::vector<int>& st = ex_.structure_terms_[size_t(s)];
            const size_t G = ex_.structures_[size_t(s)].gates.size();
            std::vector<int64_t> src(st.size() * G), dsrc(st.size() * G, 0), id(st.size()), goff(st.size());
            for (size_t tl = 0; tl < st.size(); ++tl) {
                const auto& term = ex_.terms_[size_t(st[tl])];
                id[tl] = st[tl];
                goff[tl] = term.grad_offset;
                PYQML_REQUIRE(term.cone.units.size() == G, "a term's cone does not match its structure");
                for (size_t g = 0; g < G; ++g) {
                    const int u = term.cone.units[g];
                    if (ex_.const_off_[size_t(u)] >= 0) {
                        src[tl * G + g] = ex_.const_off_[size_t(u)];
                    } else {
                        PYQML_REQUIRE(ex_.unit_off_[size_t(u)] >= 0, "a cone unit has no bound matrix");
                        src[tl * G + g] = -1 - ex_.unit_off_[size_t(u)];
                        dsrc[tl * G + g] = ex_.n_unit_cache_ + ex_.dunit_off_[size_t(u)];
                    }
                }
            }
            terms_.push_back(std::make_unique<Terms>());
            Terms& T = *terms_.back();
            T.count = int64_t(st.size());
            upload(T.d_src, src.data(), src.size() * sizeof(int64_t), "uploading the term tables");
            upload(T.d_dsrc, dsrc.data(), dsrc.size() * sizeof(int64_t), "uploading the term tables");
            upload(T.d_id, id.data(), id.size() * sizeof(int64_t), "uploading the term tables");
            upload(T.d_goff, goff.data(), goff.size() * sizeof(int64_t), "uploading the term tables");
        }
    }

    std::unique_ptr<Plan> build_plan(int s) const {
        const std::shared_ptr<ContractionPlan>& sp = ex_.plans_[size_t(s)];
        ContractionPlan& P = *sp;
        P.prepare();  // the gather tables (host)
        auto out = std::make_unique<Plan>();
        Plan& dp = *out;
        std::vector<uint32_t> perm;
        for (const auto& ex : P.steps_) {
            dp.pa.push_back(ex.id_a ? -1 : int64_t(perm.size()));
            perm.insert(perm.end(), ex.perm_a.begin(), ex.perm_a.end());
            dp.pb.push_back(ex.id_b ? -1 : int64_t(perm.size()));
            perm.insert(perm.end(), ex.perm_b.begin(), ex.perm_b.end());
        }
        const int nL = P.n_leaves();
        const int G = static_cast<int>(P.gates_.size());
        std::vector<int64_t> gmap_at(size_t(G), -1);
        std::vector<int> gmap;
        for (int g = 0; g < G; ++g) {
            gmap_at[size_t(g)] = int64_t(gmap.size());
            gmap.insert(gmap.end(), P.gate_map_[size_t(g)].begin(), P.gate_map_[size_t(g)].end());
        }
        std::vector<TnLeaf> leaves(static_cast<size_t>(nL));
        std::vector<int> elem_leaf;
        std::vector<int64_t> red, bits;
        int64_t E = 0;
        for (int i = 0; i < nL; ++i) {
            const tn::Leaf& lf = P.leaves_[size_t(i)];
            TnLeaf& L = leaves[size_t(i)];
            L.start = E;
            L.size = P.slots_[size_t(i)].size;
            if (lf.kind == LeafKind::KetGate || lf.kind == LeafKind::BraGate) {
                L.kind = 0;
                L.gate = lf.gate;
                L.conj = lf.kind == LeafKind::BraGate;
                L.gmap = gmap_at[size_t(lf.gate)];
            } else {
                // As ContractionPlan::fill_constants: the full tensor, element [bra][ket] for a Pauli.
                L.kind = 1;
                double* c = L.c;  // (re, im) pairs
                switch (lf.kind) {
                    case LeafKind::Zero: c[0] = 1; break;
                    case LeafKind::One: c[2] = 1; break;
                    case LeafKind::PauliDiag: c[0] = 1; c[2] = -1; break;
                    case LeafKind::Pauli:
                        if (lf.letter == 'X') { c[2] = 1; c[4] = 1; }
                        else if (lf.letter == 'Y') { c[3] = -1; c[5] = 1; }
                        else if (lf.letter == 'I') { c[0] = 1; c[6] = 1; }
                        else { c[0] = 1; c[6] = -1; }
                        break;
                    default: break;
                }
            }
            if (!P.red_map_[size_t(i)].empty()) {
                L.red = int64_t(red.size());
                red.insert(red.end(), P.red_map_[size_t(i)].begin(), P.red_map_[size_t(i)].end());
            }
            L.nbits = static_cast<int>(P.slice_bits_[size_t(i)].size());
            L.bits_at = int64_t(bits.size() / 2);
            for (const auto& [k, w] : P.slice_bits_[size_t(i)]) {
                bits.push_back(k);
                bits.push_back(w);
            }
            PYQML_REQUIRE(L.size <= (int64_t(1) << 30), "the GPU tensor network takes leaves of at most 2^30 elements");
            elem_leaf.insert(elem_leaf.end(), size_t(L.size), i);
            E += L.size;
        }
        std::vector<TnGrad> grads;
        for (int g = 0; g < G; ++g) {
            const tn::StructGate& sg = P.gates_[size_t(g)];
            for (int k = 0; k < sg.n_params; ++k) {
                TnGrad q;
                q.leaf = P.ket_leaf_[size_t(g)];
                q.gate = g;
                q.param = k;
                q.msize = int64_t(1) << (2 * sg.n_wires);
                q.f = sg.channel ? 0.5 : 1.0;
                grads.push_back(q);
            }
        }
        dp.e_total = E;
        dp.ng = static_cast<int>(grads.size());
        upload(dp.d_perm, perm.data(), perm.size() * sizeof(uint32_t), "uploading the permutation tables");
        upload(dp.d_leaves, leaves.data(), leaves.size() * sizeof(TnLeaf), "uploading the leaf tables");
        upload(dp.d_elem_leaf, elem_leaf.data(), elem_leaf.size() * sizeof(int), "uploading the leaf tables");
        upload(dp.d_red, red.data(), red.size() * sizeof(int64_t), "uploading the slice tables");
        upload(dp.d_gmap, gmap.data(), gmap.size() * sizeof(int), "uploading the gate maps");
        upload(dp.d_bits, bits.data(), bits.size() * sizeof(int64_t), "uploading the slice tables");
        upload(dp.d_grads, grads.data(), grads.size() * sizeof(TnGrad), "uploading the gradient tables");
        dp.keep = sp;
        dp.plan = sp.get();
        return out;
    }

    // The plans' tables, (re)built for every structure whose plan is new or was replaced.
    void sync_plans() {
        plans_.resize(size_t(ex_.n_structures()));
        for (int s = 0; s < ex_.n_structures(); ++s)
            if (!plans_[size_t(s)] || plans_[size_t(s)]->plan != ex_.plans_[size_t(s)].get()) {
                plans_[size_t(s)].reset();  // frees the old tables first
                plans_[size_t(s)] = build_plan(s);
            }
    }

    double pending_table_bytes() const {
        double b = 0;
        for (int s = 0; s < ex_.n_structures(); ++s)
            if (size_t(s) >= plans_.size() || !plans_[size_t(s)] ||
                plans_[size_t(s)]->plan != ex_.plans_[size_t(s)].get())
                b += table_bytes(*ex_.plans_[size_t(s)]);
        return b;
    }

    static void build_layout(const ContractionPlan& P, int id, Layout& L) {
        const int nL = P.n_leaves(), S = P.n_steps();
        std::vector<int64_t> leaf_off(static_cast<size_t>(nL)), leaf_adj(static_cast<size_t>(nL), -1);
        L.id = id;
        L.ops.clear();
        if (ContractionPlan::is_recompute(id)) {
            const auto& rc = P.rc_layout(id);
            PYQML_REQUIRE(rc.ok, "recompute layout not available for this plan");
            for (const auto& r : rc.ops) {
                Op op;
                op.backward = r.backward;
                op.step = r.step;
                op.a = r.a; op.b = r.b; op.c = r.c; op.ga = r.ga; op.gb = r.gb;
                op.va = r.va; op.vb = r.vb; op.cbar = r.cbar; op.abar = r.abar; op.bbar = r.bbar;
                op.bga = r.bga; op.bgb = r.bgb; op.bgc = r.bgc;
                L.ops.push_back(op);
            }
            leaf_off = rc.leaf;
            leaf_adj = rc.adj;
            L.root = rc.root;
            L.root_adj = rc.root_adj;
            L.total = rc.total;
        } else {
            const int lay = id == 1 ? 1 : 0;
            L.total = P.workspace_elements(lay == 1);  // builds the gradient layout on first use
            for (int s = 0; s < S; ++s) {
                const auto& ex = P.steps_[size_t(s)];
                Op op;
                op.step = s;
                op.a = P.slots_[size_t(ex.a)].offset[lay];
                op.b = P.slots_[size_t(ex.b)].offset[lay];
                op.c = P.slots_[size_t(ex.out)].offset[lay];
                op.ga = ex.ga[lay];
                op.gb = ex.gb[lay];
                L.ops.push_back(op);
            }
            const bool back = lay == 1 && P.need_adj_.back();
            for (int s = S - 1; back && s >= 0; --s) {
                const auto& ex = P.steps_[size_t(s)];
                const bool na = P.need_adj_[size_t(ex.a)], nb = P.need_adj_[size_t(ex.b)];
                if (!na && !nb) continue;
                Op op;
                op.backward = true;
                op.step = s;
                op.va = nb ? P.slots_[size_t(ex.a)].offset[1] : -1;
                op.vb = na ? P.slots_[size_t(ex.b)].offset[1] : -1;
                op.cbar = P.slots_[size_t(ex.out)].adj;
                op.abar = na ? P.slots_[size_t(ex.a)].adj : -1;
                op.bbar = nb ? P.slots_[size_t(ex.b)].adj : -1;
                op.bga = ex.bga;
                op.bgb = ex.bgb;
                op.bgc = ex.bgc;
                L.ops.push_back(op);
            }
            for (int i = 0; i < nL; ++i) {
                leaf_off[size_t(i)] = P.slots_[size_t(i)].offset[lay];
                leaf_adj[size_t(i)] = lay == 1 ? P.slots_[size_t(i)].adj : -1;
            }
            L.root = P.slots_.back().offset[lay];
            L.root_adj = back ? P.slots_.back().adj : -1;
        }
        upload(L.d_leaf_off, leaf_off.data(), leaf_off.size() * sizeof(int64_t), "uploading the leaf offsets");
        upload(L.d_leaf_adj, leaf_adj.data(), leaf_adj.size() * sizeof(int64_t), "uploading the leaf offsets");
    }

    const Layout& layout(Plan& dp, int id) {
        for (const auto& l : dp.layouts)
            if (l->id == id) return *l;
        auto l = std::make_unique<Layout>();
        build_layout(*dp.plan, id, *l);
        dp.layouts.push_back(std::move(l));
        return *dp.layouts.back();
    }

    // ---------------------------------------------------------------------------------------------
    // Sizing and the memory guard
    // ---------------------------------------------------------------------------------------------

    struct Sizing {
        int64_t block = 1;           // rows per block
        int64_t stride = 0;          // complex entries of a row's bound matrices
        std::vector<int> layout;     // per structure
        std::vector<int64_t> group;  // per structure: items per group
        std::vector<double> per_item;
        double fixed = 0, need = 0, avail = 0, ws_bytes = 0;
        int width = 0;
        bool recompute = false;
    };

    double held_bytes() const {
        return double(d_rows_.bytes + d_vals_.bytes + d_g_.bytes + d_ws_.bytes + d_item_v_.bytes + d_item_g_.bytes);
    }

    Sizing sizing(int64_t rows, bool grads, bool refuse) const {
        Sizing z;
        const Executor& X = ex_;
        for (int s = 0; s < X.n_structures(); ++s)
            PYQML_REQUIRE(X.plans_[size_t(s)] != nullptr, "structure " + std::to_string(s) + " has no contraction plan");
        const int64_t nt = int64_t(X.terms_.size());
        const int64_t tg = grads ? X.total_grad_ : 0;
        z.stride = X.n_unit_cache_ + (grads ? X.n_dunit_cache_ : 0);
        const int64_t per_row = nt + tg + X.circuit_.n_angles();
        z.block = std::max<int64_t>(1, std::min<int64_t>(rows, kBlockDoubles / std::max<int64_t>(1, per_row)));
        const double row_bytes = double(z.stride) * sizeof(cplx);
        if (row_bytes > 0) z.block = std::max<int64_t>(1, std::min<int64_t>(z.block, int64_t(kRowBytes / row_bytes)));
        z.fixed = double(z.block) * row_bytes + double(z.block) * double(nt + tg) * 8.0 + pending_table_bytes();
        size_t f = 0, t = 0;
        check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
        z.avail = double(f) + held_bytes();
        const int elem = elem_bytes();
        const double budget = 0.5 * z.avail - z.fixed;  // for one contraction's workspace (the layout choice)
        const int S = X.n_structures();
        z.layout.assign(size_t(S), 0);
        z.group.assign(size_t(S), 1);
        z.per_item.assign(size_t(S), 0.0);
        double max_item = 0;
        for (int s = 0; s < S; ++s) {
            const ContractionPlan& P = *X.plans_[size_t(s)];
            z.width = std::max(z.width, P.width());
            int lay = 0;
            if (grads) lay = P.gradient_layout_for(std::max(0.0, budget), elem, X.recompute_mode_);
            z.layout[size_t(s)] = lay;
            z.recompute = z.recompute || ContractionPlan::is_recompute(lay);
            int ng = 0;
            for (const auto& g : P.gates_) ng += g.n_params;
            const double item = double(P.layout_elements(lay)) * elem + 8.0 * (1 + (grads ? ng : 0));
            z.per_item[size_t(s)] = item;
            max_item = std::max(max_item, item);
        }
        z.need = z.fixed + max_item;
        if (refuse && z.need > z.avail)
            throw MemoryLimitExceeded(
                "tensor-network contraction on CUDA device " + std::to_string(device_) + " (largest tensor 2^" +
                    std::to_string(z.width) + " amplitudes" +
                    (z.recompute ? ", gradients with checkpoints and recomputation" : "") +
                    ") needs an estimated " + std::to_string((long long)z.need) + " bytes, over its free memory of " +
                    std::to_string((long long)z.avail) + " bytes",
                z.need, z.avail);
        const double target = std::min(kMaxGroupBytes, std::max(0.0, 0.5 * z.avail - z.fixed));
        for (int s = 0; s < S; ++s) {
            const int64_t items = z.block * int64_t(X.structure_terms_[size_t(s)].size()) * X.plans_[size_t(s)]->n_slices();
            const int64_t fit = int64_t(target / std::max(1.0, z.per_item[size_t(s)]));
            z.group[size_t(s)] = std::max<int64_t>(1, std::min<int64_t>(std::max<int64_t>(1, items), fit));
            z.ws_bytes = std::max(z.ws_bytes, double(z.group[size_t(s)]) *
                                                  double(X.plans_[size_t(s)]->layout_elements(z.layout[size_t(s)])) * elem);
        }
        return z;
    }

    // ---------------------------------------------------------------------------------------------
    // Steps
    // ---------------------------------------------------------------------------------------------

    // C = op(A) op(B) for cnt * nb row-major products (A m x k, or k x m when ta; B k x n, or n x k when tb),
    // operands at workspace offsets (times cnt), consecutive products m*k, k*n, m*n apart. cuBLAS is
    // column-major: the row-major C is its C^T = op(B)^T op(A)^T.
    template <class F>
    void gemm(const TnGroup& g, int64_t nb, bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t a, int64_t b,
              int64_t c) {
        PYQML_REQUIRE(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
                      "the GPU tensor network takes products of at most 2^31 - 1 rows and columns");
        using C = std::complex<F>;
        C* ws = static_cast<C*>(g.ws);
        const C* A = ws + a * g.cnt;
        const C* B = ws + b * g.cnt;
        C* Cc = ws + c * g.cnt;
        const int lda = int(ta ? m : k), ldb = int(tb ? k : n), ldc = int(n);
        const int opa = ta ? kOpT : kOpN, opb = tb ? kOpT : kOpN;
        const long long sa = m * k, sb = k * n, sc = m * n;
        const int64_t count = g.cnt * nb;
        for (int64_t q0 = 0; q0 < count; q0 += kMaxGemmBatch) {
            const int q = int(std::min(kMaxGemmBatch, count - q0));
            int st;
            if constexpr (sizeof(F) == 8) {
                const cuDoubleComplex one = make_cuDoubleComplex(1, 0), zero = make_cuDoubleComplex(0, 0);
                st = cb_->zgemm(handle_, opb, opa, int(n), int(m), int(k), &one,
                                reinterpret_cast<const cuDoubleComplex*>(B + q0 * sb), ldb, sb,
                                reinterpret_cast<const cuDoubleComplex*>(A + q0 * sa), lda, sa, &zero,
                                reinterpret_cast<cuDoubleComplex*>(Cc + q0 * sc), ldc, sc, q);
            } else {
                const cuComplex one = make_cuComplex(1, 0), zero = make_cuComplex(0, 0);
                st = cb_->cgemm(handle_, opb, opa, int(n), int(m), int(k), &one,
                                reinterpret_cast<const cuComplex*>(B + q0 * sb), ldb, sb,
                                reinterpret_cast<const cuComplex*>(A + q0 * sa), lda, sa, &zero,
                                reinterpret_cast<cuComplex*>(Cc + q0 * sc), ldc, sc, q);
            }
            check_cublas(st, sizeof(F) == 8 ? "cublasZgemmStridedBatched" : "cublasCgemmStridedBatched");
        }
    }

    const uint32_t* perm(const Plan& dp, int64_t at) const { return dp.d_perm.as<uint32_t>() + at; }

    // As ContractionPlan::forward_step, for every item of the group.
    template <class F>
    void forward_step(const Plan& dp, const TnGroup& g, const Op& op) {
        const ContractionPlan& P = *dp.plan;
        const auto& ex = P.steps_[size_t(op.step)];
        int64_t a = op.a, b = op.b;
        if (!ex.id_a) {
            tn_permute<F>(g, a, op.ga, P.slots_[size_t(ex.a)].size, perm(dp, dp.pa[size_t(op.step)]), false);
            a = op.ga;
        }
        if (!ex.id_b) {
            tn_permute<F>(g, b, op.gb, P.slots_[size_t(ex.b)].size, perm(dp, dp.pb[size_t(op.step)]), false);
            b = op.gb;
        }
        gemm<F>(g, ex.nb, false, false, ex.m, ex.n, ex.k, a, b, op.c);
    }

    // As ContractionPlan::backward_step: abar = cbar . b^T, bbar = a^T . cbar (scattered back where the
    // operand was gathered).
    template <class F>
    void backward_step(const Plan& dp, const TnGroup& g, const Op& op) {
        const ContractionPlan& P = *dp.plan;
        const auto& ex = P.steps_[size_t(op.step)];
        const int64_t sa = P.slots_[size_t(ex.a)].size, sb = P.slots_[size_t(ex.b)].size;
        if (op.abar >= 0) {
            int64_t b = op.vb;
            if (!ex.id_b) {
                tn_permute<F>(g, b, op.bgb, sb, perm(dp, dp.pb[size_t(op.step)]), false);
                b = op.bgb;
            }
            gemm<F>(g, ex.nb, false, true, ex.m, ex.k, ex.n, op.cbar, b, ex.id_a ? op.abar : op.bgc);
            if (!ex.id_a) tn_permute<F>(g, op.bgc, op.abar, sa, perm(dp, dp.pa[size_t(op.step)]), true);
        }
        if (op.bbar >= 0) {
            int64_t a = op.va;
            if (!ex.id_a) {
                tn_permute<F>(g, a, op.bga, sa, perm(dp, dp.pa[size_t(op.step)]), false);
                a = op.bga;
            }
            gemm<F>(g, ex.nb, true, false, ex.k, ex.n, ex.m, a, op.cbar, ex.id_b ? op.bbar : op.bgc);
            if (!ex.id_b) tn_permute<F>(g, op.bgc, op.bbar, sb, perm(dp, dp.pb[size_t(op.step)]), true);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // A call
    // ---------------------------------------------------------------------------------------------

    // Row r's bound unit matrices (and derivatives) into row (the executor's unit-cache layout).
    void bind_row(const Batch& b, int64_t r, bool grads, double* angles, cplx* row) const {
        const Executor& X = ex_;
        X.angles_of_row(b, r, angles);
        for (int u : X.row_units_) {
            const auto& pg = X.plain_[size_t(u)];
            const auto m = pg.n_wires > 0 ? gates::full_matrix(pg.gate, pg.n_wires, angles + pg.angle_offset, pg.unitary)
                                          : X.fused_.matrix(u, angles);
            std::copy(m.begin(), m.end(), row + X.unit_off_[size_t(u)]);
            if (grads) {
                const auto d = X.fused_.dmatrices(u, angles);
                std::copy(d.begin(), d.end(), row + X.n_unit_cache_ + X.dunit_off_[size_t(u)]);
            }
        }
    }

    template <class F, class Take>
    void run(const Batch& b, bool grads, Take&& take) {
        const Executor& X = ex_;
        for (int s = 0; s < X.n_structures(); ++s)
            PYQML_REQUIRE(X.plans_[size_t(s)] != nullptr, "structure " + std::to_string(s) + " has no contraction plan");
        const int64_t rows = b.rows;
        if (rows <= 0 || X.terms_.empty()) {
            // Nothing to contract: every term's value and gradient is 0 (the observables' constants remain).
            const int64_t nt = int64_t(X.terms_.size());
            std::vector<double> vals(size_t(std::max<int64_t>(0, rows) * nt), 0.0);
            if (rows > 0) take(0, rows, vals.data(), nullptr);
            return;
        }
        const Sizing z = sizing(rows, grads, true);
        sync_plans();
        const int64_t nt = int64_t(X.terms_.size());
        const int64_t tg = grads ? X.total_grad_ : 0;
        const int na = X.circuit_.n_angles();
        int64_t max_group = 1, max_group_g = 1;
        for (int s = 0; s < X.n_structures(); ++s) {
            max_group = std::max(max_group, z.group[size_t(s)]);
            max_group_g = std::max(max_group_g, z.group[size_t(s)] * (grads ? plans_[size_t(s)]->ng : 0));
        }
        d_rows_.ensure(size_t(z.block * z.stride) * sizeof(cplx), "allocating the bound gate matrices");
        d_vals_.ensure(size_t(z.block * nt) * sizeof(double), "allocating the term values");
        if (grads) d_g_.ensure(size_t(z.block * std::max<int64_t>(1, tg)) * sizeof(double), "allocating the term gradients");
        d_ws_.ensure(size_t(z.ws_bytes), "allocating the contraction workspace");
        d_item_v_.ensure(size_t(max_group) * sizeof(double), "allocating the contraction results");
        if (grads) d_item_g_.ensure(size_t(max_group_g) * sizeof(double), "allocating the contraction gradients");

        std::vector<cplx> ucache;
        std::vector<double> vals, g;
        for (int64_t r0 = 0; r0 < rows; r0 += z.block) {
            const int64_t nr = std::min(z.block, rows - r0);
            // Bind the block's rows on the host, in parallel over rows.
            ucache.resize(size_t(nr * z.stride));
            if (z.stride > 0) {
                std::exception_ptr err;
#pragma omp parallel if (nr > 1)
                {
                    std::vector<double> angles(static_cast<size_t>(std::max(1, na)));
#pragma omp for schedule(dynamic, 1)
                    for (int64_t r = 0; r < nr; ++r) {
                        try {
                            bind_row(b, r0 + r, grads, angles.data(), ucache.data() + r * z.stride);
                        } catch (...) {
#pragma omp critical(pyqml_tn_gpu_error)
                            if (!err) err = std::current_exception();
                        }
                    }
                }
                if (err) std::rethrow_exception(err);
                upload(d_rows_, ucache.data(), ucache.size() * sizeof(cplx), "uploading the bound gate matrices");
            }
            check(cudaMemsetAsync(d_vals_.p, 0, size_t(nr * nt) * sizeof(double)), "clearing the term values");
            if (grads && tg > 0)
                check(cudaMemsetAsync(d_g_.p, 0, size_t(nr * tg) * sizeof(double)), "clearing the term gradients");
            for (int s = 0; s < X.n_structures(); ++s) {
                Plan& dp = *plans_[size_t(s)];
                const Terms& T = *terms_[size_t(s)];
                if (T.count == 0) continue;
                const ContractionPlan& P = *dp.plan;
                const Layout& L = layout(dp, z.layout[size_t(s)]);
                const int ng = grads ? dp.ng : 0;
                const int64_t ns = P.n_slices();
                const int64_t items = nr * T.count * ns;
                const int64_t B = z.group[size_t(s)];
                TnGroup gr;
                gr.ws = d_ws_.p;
                gr.ns = ns;
                gr.lo = 0;
                gr.terms = T.count;
                gr.n_gates = static_cast<int>(P.gates_.size());
                gr.leaves = dp.d_leaves.as<TnLeaf>();
                gr.elem_leaf = dp.d_elem_leaf.as<int>();
                gr.e_total = dp.e_total;
                gr.leaf_off = L.d_leaf_off.as<int64_t>();
                gr.leaf_adj = L.d_leaf_adj.as<int64_t>();
                gr.red = dp.d_red.as<int64_t>();
                gr.gmap = dp.d_gmap.as<int>();
                gr.bits = dp.d_bits.as<int64_t>();
                gr.consts = d_consts_.p;
                gr.rows = d_rows_.p;
                gr.stride = z.stride;
                gr.src = T.d_src.as<int64_t>();
                gr.dsrc = T.d_dsrc.as<int64_t>();
                const size_t n_fwd = size_t(P.n_steps());
                for (int64_t g0 = 0; g0 < items; g0 += B) {
                    gr.g0 = g0;
                    gr.cnt = std::min(B, items - g0);
                    tn_fill<F>(gr);
                    for (size_t i = 0; i < n_fwd; ++i) forward_step<F>(dp, gr, L.ops[i]);
                    tn_root<F>(gr, L.root, d_item_v_.as<double>());
                    if (ng > 0) {
                        if (L.root_adj >= 0) tn_set_one<F>(gr, L.root_adj);
                        for (size_t i = n_fwd; i < L.ops.size(); ++i) {
                            if (L.ops[i].backward) backward_step<F>(dp, gr, L.ops[i]);
                            else forward_step<F>(dp, gr, L.ops[i]);
                        }
                        tn_grads<F>(gr, dp.d_grads.as<TnGrad>(), ng, d_item_g_.as<double>());
                    }
                    tn_accumulate(gr, d_item_v_.as<double>(), ng > 0 ? d_item_g_.as<double>() : nullptr, ng,
                                  T.d_id.as<int64_t>(), T.d_goff.as<int64_t>(), nt, tg, d_vals_.as<double>(),
                                  grads ? d_g_.as<double>() : nullptr);
                }
            }
            vals.resize(size_t(nr * nt));
            download(vals.data(), d_vals_.p, vals.size() * sizeof(double), "reading the term values");
            if (grads) {
                g.resize(size_t(nr * tg));
                download(g.data(), d_g_.p, g.size() * sizeof(double), "reading the term gradients");
            }
            take(r0, nr, vals.data(), g.data());
        }
    }

    // The combinations below are those of tn::Executor::expval / jacobian / vjp (executor.cpp) over the
    // same (row, term) values and cone-angle gradients.
    template <class F>
    void expval_t(const Batch& b, double* out) {
        const Executor& X = ex_;
        const int no = X.n_observables();
        const int64_t nt = X.n_terms();
        run<F>(b, false, [&](int64_t r0, int64_t nr, const double* vals, const double*) {
            for (int64_t r = 0; r < nr; ++r)
                for (int o = 0; o < no; ++o) {
                    double s = X.obs_const_[size_t(o)];
                    for (const auto& ot : X.obs_terms_[size_t(o)]) s += ot.coeff * vals[r * nt + ot.term];
                    out[(r0 + r) * no + o] = s;
                }
        });
    }

    template <class F>
    void jacobian_t(const Batch& b, double* vals_out, double* dw, double* dx) {
        run<F>(b, true, [&](int64_t r0, int64_t nr, const double* vals, const double* g) {
            ex_.jacobian_rows(r0, nr, vals, g, true, vals_out, dw, dx);
        });
    }

    template <class F>
    void vjp_t(const Batch& b, const double* cot, double* vals_out, double* dw, double* dx) {
        const int nw = ex_.circuit_.n_weights();
        if (!b.weights_per_row && dw) std::fill(dw, dw + nw, 0.0);
        run<F>(b, true, [&](int64_t r0, int64_t nr, const double* vals, const double* g) {
            ex_.vjp_rows(b, cot, r0, nr, vals, g, true, vals_out, dw, dx);
        });
    }
};

TensorNet::TensorNet(const tn::Executor& executor, int device) : impl_(std::make_unique<TnDevice>(executor, device)) {}

TensorNet::~TensorNet() = default;

const tn::Executor& TensorNet::executor() const { return impl_->ex_; }
int TensorNet::device() const { return impl_->device_; }

// One call at a time per object (its workspaces are shared), on its device.
#define PYQML_TN_GPU_CALL(fn, ...)                                                    \
    do {                                                                              \
        std::lock_guard<std::mutex> lock(impl_->mutex_);                              \
        check(cudaSetDevice(impl_->device_), "cudaSetDevice");                        \
        if (impl_->elem_bytes() == 16) impl_->fn<double>(__VA_ARGS__); \
        else impl_->fn<float>(__VA_ARGS__);                                           \
    } while (0)

void TensorNet::expval(const Batch& b, double* out) const {
    PYQML_REQUIRE(b.rows >= 0, "negative batch size");
    PYQML_TN_GPU_CALL(expval_t, b, out);
}

void TensorNet::jacobian(const Batch& b, double* vals, double* dw, double* dx) const {
    PYQML_REQUIRE(b.rows >= 0, "negative batch size");
    PYQML_TN_GPU_CALL(jacobian_t, b, vals, dw, dx);
}

void TensorNet::vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const {
    PYQML_REQUIRE(b.rows >= 0, "negative batch size");
    PYQML_REQUIRE(cot != nullptr, "vjp needs a cotangent");
    PYQML_TN_GPU_CALL(vjp_t, b, cot, vals, dw, dx);
}

double TensorNet::estimated_bytes(int64_t rows, bool gradients) const {
    std::lock_guard<std::mutex> lock(impl_->mutex_);
    check(cudaSetDevice(impl_->device_), "cudaSetDevice");
    return impl_->sizing(std::max<int64_t>(1, rows), gradients, false).need;
}

std::vector<int> TensorNet::layouts(int64_t rows, bool gradients) const {
    std::lock_guard<std::mutex> lock(impl_->mutex_);
    check(cudaSetDevice(impl_->device_), "cudaSetDevice");
    return impl_->sizing(std::max<int64_t>(1, rows), gradients, false).layout;
}

std::vector<int64_t> TensorNet::group_sizes(int64_t rows, bool gradients) const {
    std::lock_guard<std::mutex> lock(impl_->mutex_);
    check(cudaSetDevice(impl_->device_), "cudaSetDevice");
    return impl_->sizing(std::max<int64_t>(1, rows), gradients, false).group;
}

}  // namespace pyqml::cuda
