"""Slicing: fix a few indices of a contraction tree so that every tensor of it fits a memory target.

A sliced index ``i`` is summed outside the tree instead of inside it::

    E = sum_{i=0,1} sum_{j=0,1} T[i, j]        T[i, j]: the network with i and j fixed (a slice)

Each slice is the same tree over smaller tensors (every tensor holding ``i`` loses that index), so one
workspace of the sliced sizes serves every slice, and the engine (``ContractionPlan(..., sliced=...)``)
contracts the ``2^k`` slices one after another or spread over threads and adds them in slice order. The
price is recomputation: a step that does not hold a sliced index is repeated in every slice, so the sliced
tree costs ``2^k * (its sliced steps' cost)``; good indices to slice are those in the widest tensors that
the cheap steps do not hold.

Two slicers choose the indices, on the same tree (the path is not searched again):

* ``"greedy"`` (the engine's own, deterministic): one index at a time, the one that, once sliced, leaves
  the narrowest widest tensor and then the fewest total multiply-adds (ties: the smallest label);
* ``"cotengra"``: cotengra's ``SliceFinder`` (seeded), when cotengra is installed.

``"auto"`` runs both when cotengra is installed and keeps the cheaper choice (ties: greedy), so a network
never slices worse than the engine's own slicer would.
"""
from __future__ import annotations

import math

# The engine slices at most this many indices (2^40 slices).
MAX_SLICED = 40
SLICERS = ("auto", "greedy", "cotengra")


def sliced_cost(labels: list[list[int]], steps, sliced) -> tuple[float, int]:
    """(complex multiply-adds of all slices, log2 of the largest tensor of one slice) of a tree."""
    cut = set(sliced)
    sets = [set(ls) - cut for ls in labels]
    macs, width = 0.0, max((len(s) for s in sets), default=0)
    for a, b, kept in steps:
        macs += 2.0 ** len(sets[a] | sets[b])
        s = set(kept) - cut
        sets.append(s)
        width = max(width, len(s))
    return macs * 2.0 ** len(cut), width


def _widest_labels(labels, steps, cut: set) -> list[int]:
    """Labels (not yet sliced) of the widest tensors of the tree with ``cut`` sliced."""
    tensors = [set(ls) - cut for ls in labels] + [set(k) - cut for _, _, k in steps]
    w = max(len(t) for t in tensors)
    out: set[int] = set()
    for t in tensors:
        if len(t) == w:
            out |= t
    return sorted(out)


def greedy_slices(labels, steps, target_width: int, start=()) -> list[int]:
    """Sliced labels, extending ``start``, until the widest tensor has at most ``target_width`` indices (or
    MAX_SLICED are sliced). Deterministic: a function of the tree alone."""
    sliced = list(start)
    width = sliced_cost(labels, steps, sliced)[1]
    while width > target_width and len(sliced) < MAX_SLICED:
        best = None
        for lab in _widest_labels(labels, steps, set(sliced)):
            macs, w = sliced_cost(labels, steps, sliced + [lab])
            score = (w, macs, lab)
            if best is None or score < best:
                best = score
        if best is None:
            break
        sliced.append(best[2])
        width = best[0]
    return sliced


def cotengra_slices(labels, steps, target_width: int, seed: int = 0) -> list[int] | None:
    """cotengra's ``SliceFinder`` on the same tree (None without cotengra)."""
    try:
        import cotengra as ctg
        import opt_einsum as oe
    except ImportError:
        return None
    syms: dict[int, str] = {}
    inputs = [tuple(syms.setdefault(x, oe.get_symbol(len(syms))) for x in ls) for ls in labels]
    back = {v: k for k, v in syms.items()}
    size = {s: 2 for s in syms.values()}
    tree = ctg.ContractionTree.from_path(inputs, (), size, ssa_path=[(a, b) for a, b, _ in steps])
    sf = ctg.SliceFinder(tree, target_size=2**target_width, seed=seed)
    ix, _ = sf.search(max_repeats=16)
    return sorted(back[s] for s in ix)


def choose_slices(labels, steps, target_width: int, slicer: str = "auto", start=()) -> list[int]:
    """Labels to slice so that every tensor of the tree has at most ``target_width`` indices."""
    if slicer not in SLICERS:
        raise ValueError(f"slicer must be one of {SLICERS}, got {slicer!r}")
    greedy = greedy_slices(labels, steps, target_width, start) if slicer != "cotengra" else None
    if slicer == "greedy":
        return greedy
    theirs = cotengra_slices(labels, steps, target_width)
    if theirs is None:
        if slicer == "cotengra":
            raise ImportError("slicer='cotengra' needs cotengra: pip install 'pyqml[cotengra]'")
        return greedy
    if greedy is None:
        return theirs
    cg, ct = sliced_cost(labels, steps, greedy), sliced_cost(labels, steps, theirs)
    ok_t = ct[1] <= target_width and len(theirs) <= MAX_SLICED
    ok_g = cg[1] <= target_width
    if ok_t and (not ok_g or ct[0] < cg[0]):
        return theirs
    return greedy


def check_target_size(target_size) -> None:
    """ValueError unless ``target_size`` is None or a positive integer (complex elements, a power of two or
    not: the widest tensor of a slice is kept at or below it)."""
    if target_size is None:
        return
    if isinstance(target_size, bool) or not isinstance(target_size, (int, float)) or not target_size >= 1 \
            or not math.isfinite(target_size):
        raise ValueError(f"target_size must be a positive number of complex elements, got {target_size!r}")


def target_width(target_size: float) -> int:
    return int(math.floor(math.log2(target_size) + 1e-9))
