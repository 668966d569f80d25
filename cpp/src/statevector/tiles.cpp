#include "pyqml/statevector/tiles.hpp"

#include "pyqml/statevector/program.hpp"

namespace pyqml::sv {

namespace {

// Off by default: on the (shared, loaded) machine where they were measured the tiled passes took more CPU
// time than the per-gate ones from 14 to 17 wires (bench/results/band_14_18.md); to be re-measured quietly.
std::atomic<bool> g_tiles{false};

uint64_t bit_mask(const OpKernel& k) {
    uint64_t m = 0;
    for (int a = 0; a < k.nc + k.nt; ++a) m |= uint64_t(1) << k.bits[a];
    return m;
}

// The fewest high bits h for which every bit of `mask` is below kTileBits - h or among the h highest
// bits of mask (then exactly h of them lie at or above kTileBits - h); -1 when h would exceed kTileMaxHigh.
int high_count(uint64_t mask) {
    for (int h = 0; h <= kTileMaxHigh; ++h)
        if (__builtin_popcountll(mask >> (kTileBits - h)) <= h) return h;
    return -1;
}

void close_segment(TileSegment& s, uint64_t mask, const std::vector<OpKernel>& kernels) {
    const int h = high_count(mask);
    s.nhigh = h;
    int a = 0;
    for (int b = kTileBits - h; b < 64; ++b)
        if (mask >> b & 1) s.high[a++] = b;
    const int c = s.low_bits();
    auto local_bit = [&](int g) {
        if (g < c) return g;
        for (int i = 0; i < h; ++i)
            if (s.high[i] == g) return c + i;
        return -1;  // not reached: every bit of the segment is local
    };
    for (int item : s.items) {
        OpKernel k = kernels[item];
        for (int b = 0; b < k.nc + k.nt; ++b) k.bits[b] = local_bit(k.bits[b]);
        s.local.push_back(k);
    }
    s.chunk.resize(size_t(1) << h);
    for (size_t t = 0; t < s.chunk.size(); ++t) {
        index_t off = 0;
        for (int i = 0; i < h; ++i)
            if (t >> i & 1) off |= index_t(1) << s.high[i];
        s.chunk[t] = off;
    }
}

}  // namespace

bool tiles_enabled() { return g_tiles.load(std::memory_order_relaxed); }
void set_tiles_enabled(bool on) { g_tiles.store(on, std::memory_order_relaxed); }

std::vector<TileSegment> plan_tiles(int n, const std::vector<OpKernel>& kernels) {
    std::vector<TileSegment> out;
    (void)n;
    TileSegment open;
    uint64_t mask = 0;
    auto flush = [&] {
        if (open.items.empty()) return;
        close_segment(open, mask, kernels);
        out.push_back(std::move(open));
        open = TileSegment{};
        mask = 0;
    };
    for (size_t i = 0; i < kernels.size(); ++i) {
        const uint64_t m = bit_mask(kernels[i]);
        if (high_count(m) < 0) {
            flush();
            TileSegment g;
            g.global = true;
            g.items.push_back(static_cast<int>(i));
            g.local.push_back(kernels[i]);
            out.push_back(std::move(g));
            continue;
        }
        if (high_count(mask | m) < 0) flush();
        open.items.push_back(static_cast<int>(i));
        mask |= m;
    }
    flush();
    return out;
}

}  // namespace pyqml::sv
