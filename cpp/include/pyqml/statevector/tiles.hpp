#pragma once
// Cache tiles for registers of 14 wires and more: a sequence of gates whose bits all fit in one tile of
// 2^kTileBits amplitudes (128 KiB in complex128, resident in a core's L2) is applied block by block, every
// gate of the sequence to one block before the next block is touched. The state then crosses the memory
// hierarchy once per segment instead of once per gate.
//
// A tile's local bits are the kTileBits - h lowest bits of the state (a contiguous run of amplitudes)
// plus h higher bits that the segment's gates touch; a block is one setting of all other bits. For h = 0 a
// block is a contiguous slice of the state and the gates run on it in place; otherwise its 2^h chunks of
// 2^(kTileBits - h) contiguous amplitudes are gathered into a buffer, the gates run there on their local
// bit positions, and the chunks are written back. Every gate kernel runs unchanged on the block as on a
// kTileBits-wire state.
//
// Segments are cut greedily in application order: a gate joins the open segment while the union of the
// segment's bits still fits a tile with at most kTileMaxHigh high bits (chunks of at least 32 amplitudes);
// a gate whose own bits do not fit (MultiRZ on many high wires) is a global segment applied to the whole
// state by the per-gate kernels.
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "pyqml/common/types.hpp"
#include "pyqml/statevector/team.hpp"  // SpinBarrier

namespace pyqml::sv {

struct OpKernel;

inline constexpr int kTileBits = 13;
inline constexpr int kTileMaxHigh = kTileBits - 5;
// Registers narrower than this are one tile or less: the per-gate path is the tiled path.
inline constexpr int kTileMinWires = kTileBits + 1;

struct TileSegment {
    bool global = false;          // one item on the whole state (its bits do not fit a tile)
    int nhigh = 0;                // local bits above the low run
    int high[kTileMaxHigh] = {};  // their global bit positions, ascending
    std::vector<int> items;       // indices into the caller's list (schedule items or ops), in order
    std::vector<OpKernel> local;  // their kernels with local bit positions (a global segment: unchanged)
    std::vector<index_t> chunk;   // offset of local chunk t (bits of t spread onto high), 2^nhigh entries

    int low_bits() const { return kTileBits - nhigh; }
    // The global index of local amplitude 0 of block `blk` (blk spread over the bits that are not local).
    index_t block_base(index_t blk) const {
        index_t i = blk << low_bits();
        for (int a = 0; a < nhigh; ++a) {
            const index_t low = (index_t(1) << high[a]) - 1;
            i = ((i & ~low) << 1) | (i & low);
        }
        return i;
    }
};

// Process-wide switch between the tiled passes and the per-gate ones (default: per-gate, see tiles.cpp),
// for comparing the two (tests, benchmarks); read when a call starts.
bool tiles_enabled();
void set_tiles_enabled(bool on);

// Segments for kernels applied in the order given (kernels[i] is item i). n: the register's wires
// (at least kTileMinWires).
std::vector<TileSegment> plan_tiles(int n, const std::vector<OpKernel>& kernels);

}  // namespace pyqml::sv
