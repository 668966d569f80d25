"""The tensor network of one light-cone structure, ``<0| U^dag P U |0>``, and its contraction path.

A structure (from the engine's light-cone pass) lists the cone's gates on local wires 0..k-1 and the Pauli
letter of each local wire. The network built here has, per wire, a ``|0>`` on the ket and on the bra side;
per gate a ket tensor ``U`` and a bra tensor ``conj(U)``; and in the middle the Pauli letters::

    |0>--[U1]--[U3]--+            wire with letter I: ket and bra ends are one index
                     P            X, Y: a 2x2 tensor [bra, ket];  Z: a diagonal (hyperedge) vector
    <0|--[U1*]-[U3*]-+

A gate acting diagonally on a wire (its controls, every wire of CZ, IsingZZ, RZ, ..., and both wires of a fused
block such as ``cx a,b; rz b; cx a,b``) keeps that wire's index: input and output are one index, shared by
more than two tensors (a hyperedge). That choice is made from the gate table's structure (flags and nonzero
patterns) only, never from numbers, so gradients stay valid for every angle.

Simplification and path search (opt_einsum by network size, cotengra when installed and asked for) give a
list of pairwise steps that the engine compiles into a ``_core.ContractionPlan``; plans are cached under the
structure's key, so terms and circuits with the same structure share them.
"""
from __future__ import annotations

import math
from typing import Any

import opt_einsum as oe

from .. import _core
from ..frontend.cache import PlanCache

KET_GATE, BRA_GATE, ZERO, PAULI, PAULI_DIAG = 0, 1, 2, 3, 4

# Exhaustive search below _OPTIMAL_MAX tensors (after absorption), dynamic programming up to _DP_MAX
# (off by default: with hyperedges it is slow for a small gain here), greedy above.
_OPTIMAL_MAX = 7
_DP_MAX = 0
# Complex multiply-adds of the greedy tree above which "auto" also tries randomised greedy paths.
_REFINE_COST = 2.0**20
_RANDOM_REPEATS = 8
OPTIMIZERS = ("auto", "greedy", "dp", "optimal", "random-greedy", "cotengra")


def check_optimize(optimize) -> None:
    """ValueError unless ``optimize`` names a search (OPTIMIZERS) or is a path optimiser object (an
    ``opt_einsum.paths.PathOptimizer`` such as ``opt_einsum.RandomGreedy(max_repeats=256)``, or cotengra's
    ``HyperOptimizer``): the documented way to ask for a longer (or differently seeded) search."""
    if isinstance(optimize, str):
        if optimize not in OPTIMIZERS:
            raise ValueError(f"optimize must be one of {OPTIMIZERS} or a path optimiser object, got {optimize!r}")
    elif not (isinstance(optimize, oe.paths.PathOptimizer) or callable(getattr(optimize, "search", None))
              or callable(optimize)):
        raise ValueError(f"optimize must be one of {OPTIMIZERS} or a path optimiser object, got {optimize!r}")


def build_network(structure: dict) -> tuple[list, list]:
    """Leaves ``[(kind, gate, letter, labels)]`` and gates ``[(name, n_wires, diagonal, n_params)]`` of a
    structure's network.

    The leaves are built by the engine (``cpp/src/tensornet/network.cpp``) and come with the structure. A gate
    is one of the gate table or a block of gates fused on one or two wires (its name lists the members, e.g.
    ``"[CNOT 0 1; RZ 1; CNOT 0 1]"``); ``diagonal`` says on which of its wires it keeps one index.
    """
    leaves = list(structure["leaves"])  # (int, int, str, list) tuples from the engine
    # len(diag), not len(wires): a noise channel's tensor spans its wires' ket and bra lines (2k flags).
    gates = [(name, len(diag), [bool(d) for d in diag], int(n_params))
             for name, wires, diag, n_params in structure["gates"]]
    return leaves, gates


def _absorb_pass(labels: list[list[int]]) -> list[tuple[int, int]]:
    """Structural simplification: pairs of tensors whose contraction does not raise the rank (vectors and
    matrices into their neighbours), found before the path search so that it sees a smaller network.
    Returns SSA pairs over ``labels`` (new tensors appended)."""
    count: dict[int, int] = {}
    for ls in labels:
        for x in ls:
            count[x] = count.get(x, 0) + 1
    alive = [True] * len(labels)
    sets = [set(ls) for ls in labels]
    owners: dict[int, set[int]] = {}
    for i, ls in enumerate(labels):
        for x in ls:
            owners.setdefault(x, set()).add(i)
    pairs = []
    queue = [i for i in range(len(labels)) if len(sets[i]) <= 2]
    while queue:
        i = queue.pop()
        if not alive[i] or len(sets[i]) > 2:
            continue
        best = None
        for x in sets[i]:
            for j in owners[x]:
                if j == i or not alive[j]:
                    continue
                union = sets[i] | sets[j]
                kept = {y for y in union if count[y] > (y in sets[i]) + (y in sets[j])}
                if len(kept) <= max(len(sets[j]), len(sets[i])):
                    if best is None or len(kept) < best[1]:
                        best = (j, len(kept), kept)
        if best is None:
            continue
        j, _, kept = best
        for y in sets[i] | sets[j]:
            count[y] -= (y in sets[i]) + (y in sets[j])
            owners[y].discard(i)
            owners[y].discard(j)
        for y in kept:
            count[y] += 1
        alive[i] = alive[j] = False
        new = len(sets)
        sets.append(kept)
        alive.append(True)
        for y in kept:
            owners[y].add(new)
        pairs.append((i, j))
        if len(kept) <= 2:
            queue.append(new)
    return pairs


def tree_cost(labels: list[list[int]], steps) -> tuple[float, int]:
    """(complex multiply-adds, log2 of the largest result) of pairwise steps over a network."""
    sets = [set(ls) for ls in labels]
    macs, width = 0.0, max((len(s) for s in sets), default=0)
    for a, b, kept in steps:
        macs += 2.0 ** len(sets[a] | sets[b])
        sets.append(set(kept))
        width = max(width, len(kept))
    return macs, width


def contraction_steps(labels: list[list[int]], optimize="auto") -> list[tuple[int, int, list[int]]]:
    """Pairwise steps ``(a, b, kept labels)`` (SSA ids: leaves first) contracting the network to a scalar.

    "auto": exhaustive search for a few tensors; otherwise the engine's greedy path, and for an expensive
    network (that could fit in memory) also randomised greedy trials, keeping the cheaper tree. Every string
    choice gives the same tree in every process (a fixed number of seeded trials, no time limit); a path
    optimiser object (see ``check_optimize``) buys a longer search.
    """
    check_optimize(optimize)
    if optimize == "auto" and len(labels) > _OPTIMAL_MAX:
        steps = [(int(a), int(b), list(k)) for a, b, k in _core.tn_greedy_path(labels)]
        cost, width = tree_cost(labels, steps)
        if cost > _REFINE_COST and 16.0 * 2.0**width <= 2.0**10 * _core.memory_limit():
            alt = _searched_steps(labels, "random-greedy")
            if tree_cost(labels, alt)[0] < cost:
                steps = alt
        return steps
    return _searched_steps(labels, optimize)


def _searched_steps(labels: list[list[int]], optimize: str) -> list[tuple[int, int, list[int]]]:
    sets = [set(ls) for ls in labels]
    count: dict[int, int] = {}
    for s in sets:
        for x in s:
            count[x] = count.get(x, 0) + 1
    steps: list[tuple[int, int, list[int]]] = []

    def contract(a: int, b: int) -> int:
        union = sets[a] | sets[b]
        for y in sets[a]:
            count[y] -= 1
        for y in sets[b]:
            count[y] -= 1
        kept = sorted(y for y in union if count[y] > 0)
        for y in kept:
            count[y] += 1
        sets.append(set(kept))
        steps.append((a, b, kept))
        return len(sets) - 1

    # 1. structural absorption (rank-non-increasing pairs)
    alive = set(range(len(labels)))
    for i, j in _absorb_pass(labels):
        new = contract(i, j)
        alive.discard(i)
        alive.discard(j)
        alive.add(new)
    # 2. path search over what is left
    ids = sorted(alive)
    if len(ids) > 1:
        path = _search([sorted(sets[i]) for i in ids], optimize)
        cur = list(ids)
        for pair in path:
            if len(pair) != 2:
                raise RuntimeError(f"path search returned a {len(pair)}-operand step")
            i, j = sorted(pair)
            a, b = cur[i], cur[j]
            del cur[j]
            del cur[i]
            cur.append(contract(a, b))
    return steps


def _search(labels: list[list[int]], optimize) -> list:
    """A path over the network by opt_einsum (or cotengra), called with the integer labels themselves: set
    iteration over integers does not depend on the process's string-hash seed, so a seeded search returns
    the same path in every process."""
    n = len(labels)
    inputs = [frozenset(ls) for ls in labels]
    size = {x: 2 for ls in labels for x in ls}
    if optimize == "cotengra":
        try:
            import cotengra as ctg
        except ImportError:
            raise ImportError("optimize='cotengra' needs cotengra: pip install 'pyqml[cotengra]'") from None
        try:
            opt: Any = ctg.HyperOptimizer(max_repeats=32, progbar=False, seed=0)
        except TypeError:  # a cotengra without seeds
            opt = ctg.HyperOptimizer(max_repeats=32, progbar=False)
    elif optimize == "auto":
        opt = "optimal" if n <= _OPTIMAL_MAX else "dp" if n <= _DP_MAX else "greedy"
    elif optimize == "random-greedy":
        # A fixed number of trials, each seeded by its trial number (opt_einsum seeds trial r with r): the
        # same tree in every process however loaded the machine (a time limit would tie it to the clock).
        opt = oe.RandomGreedy(max_repeats=_RANDOM_REPEATS, minimize="flops")
    else:
        opt = optimize
    if isinstance(opt, str):
        return oe.paths.get_path_fn(opt)(inputs, frozenset(), size)
    if isinstance(opt, oe.paths.PathOptimizer) and not type(opt).__module__.startswith("cotengra"):
        return opt(inputs, frozenset(), size)
    syms: dict[int, str] = {}
    terms = ["".join(syms.setdefault(x, oe.get_symbol(len(syms))) for x in ls) for ls in labels]
    path, _ = oe.contract_path(",".join(terms) + "->", *[(2,) * len(ls) for ls in labels], shapes=True,
                               optimize=opt)
    return path


def _refine(cost: float, width: int, limit: float) -> bool:
    """Whether "auto" also tries randomised greedy paths after the engine's greedy tree: when that tree costs
    more than _REFINE_COST complex multiply-adds (below it, the trials, ~100 ms on a large network, cost
    more than any tree they could save) and its largest tensor could fit in memory."""
    return cost > _REFINE_COST and 16.0 * 2.0**width <= 2.0**10 * limit


class StructurePlan:
    """One structure's network and contraction tree, compiled for the engine (``core``).

    Attributes
    ----------
    leaves : list of (kind, gate, letter, labels)
        The network's tensors (kinds: 0 ket gate, 1 bra gate, 2 ``|0>``, 3 Pauli, 4 diagonal Z).
    gates : list of (name, n_wires, diagonal flags, n_params)
    tree : list of (a, b, kept labels)
        Pairwise steps; tensor ids are leaves first, then step results in order.
    core : pyqml._core.ContractionPlan

    A plan made by the engine (``from_core``: greedy trees planned in C++, ``TensorNet.plan_greedy``) reads
    ``leaves``, ``gates`` and ``tree`` from its compiled plan on first use.
    """

    def __init__(self, structure: dict, optimize: str, greedy=None, memory_limit: float | None = None):
        self._leaves, self._gates = build_network(structure)
        labels = [lf[3] for lf in self._leaves]
        if optimize == "auto" and len(labels) > _OPTIMAL_MAX:
            # contraction_steps("auto"), with the greedy tree's cost and width read from its compiled plan
            # (planning thousands of cone structures is dominated by such bookkeeping otherwise); `greedy`
            # is that plan when the engine made it already.
            if greedy is None:
                greedy = _core.ContractionPlan(self._gates, self._leaves, _core.tn_greedy_path(labels))
            self.core = greedy
            self._tree = None
            limit = _core.memory_limit() if memory_limit is None else memory_limit
            cost = self.core.forward_macs
            if _refine(cost, self.core.width, limit):
                alt = _searched_steps(labels, "random-greedy")
                if tree_cost(labels, alt)[0] < cost:
                    self._tree = alt
                    self.core = _core.ContractionPlan(self._gates, self._leaves, self._tree)
        else:
            self._tree = contraction_steps(labels, optimize)
            self.core = _core.ContractionPlan(self._gates, self._leaves, self._tree)

    unsliced_macs: float | None = None  # forward multiply-adds before slicing (None: not sliced)

    @property
    def sliced(self) -> list[int]:
        """The sliced labels (empty: not sliced)."""
        return list(self.core.sliced)

    @property
    def n_slices(self) -> int:
        return int(self.core.n_slices)

    def with_slices(self, sliced) -> StructurePlan:
        """The same tree with ``sliced`` labels fixed per slice (see ``pyqml/tensornet/slicing.py``)."""
        core = _core.ContractionPlan(self.gates, self.leaves, self.tree, list(sliced))
        out = StructurePlan.from_core(core)
        out._leaves, out._gates, out._tree = self.leaves, self.gates, self.tree
        out.unsliced_macs = self.forward_macs if self.unsliced_macs is None else self.unsliced_macs
        return out

    @classmethod
    def from_core(cls, core) -> StructurePlan:
        """The plan of a compiled ``_core.ContractionPlan`` (leaves, gates and tree read from it lazily)."""
        self = cls.__new__(cls)
        self.core = core
        self._leaves = self._gates = self._tree = None
        return self

    @property
    def leaves(self) -> list:
        if self._leaves is None:
            self._leaves = self.core.leaves
        return self._leaves

    @property
    def gates(self) -> list:
        if self._gates is None:
            self._gates = self.core.gates
        return self._gates

    @property
    def tree(self) -> list:
        if self._tree is None:
            self._tree = self.core.steps
        return self._tree

    @property
    def width(self) -> int:
        return self.core.width

    @property
    def forward_macs(self) -> float:
        return self.core.forward_macs

    @property
    def backward_macs(self) -> float:
        return self.core.backward_macs


# Bounded (LRU, a share of the memory limit); emptied by pq.clear_caches().
_PLAN_CACHE = PlanCache("contraction plans")


def _plan_bytes(plan: StructurePlan) -> float:
    """Estimated bytes a cached plan holds: permutation tables, leaves and steps."""
    return plan.core.table_bytes + 96.0 * (plan.core.n_leaves + plan.core.n_steps)


def call_bytes(plan: StructurePlan, elem_bytes: int, threads: int | None = None) -> float:
    """Bytes a gradient call on one row needs for this plan: one gradient workspace per thread and the
    permutation tables."""
    t = _core.get_num_threads() if threads is None else threads
    return t * plan.core.bytes_per_thread(elem_bytes, True) + plan.core.table_bytes


def slice_target(target_size=None, elem_bytes: int = 16):
    """The cache tag of a slicing target: ("size", elements) for ``target_size=``, else ("limit", bytes) for
    the memory limit (the budget of one call's workspaces: half the limit)."""
    if target_size is not None:
        return ("size", float(target_size))
    # A power of two: the default limit follows the available memory, and plans should not change (nor
    # miss the cache) with every small change of it.
    half = 0.5 * _core.memory_limit()
    return ("limit", 2.0 ** math.floor(math.log2(half)) if half >= 1 else 0.0, elem_bytes, _core.get_num_threads())


# The memory limit alone slices at most this many indices (more would mean thousands of contractions per term
# and more: such a network is refused with its estimate, as before slicing; target_size= asks for more).
_MAX_LIMIT_SLICED = 12


def _fits(plan: StructurePlan, target) -> bool:
    """Whether a plan needs no slicing for a ("limit", ...) target: its gradient call takes at most the
    limit (twice the budget). A bound first (no tensor is larger than 2^width; a gradient workspace holds at
    most a value and an environment per tensor and five gather copies per step), so that small plans never
    build their gradient layout."""
    _, budget, elem, threads = target
    core = plan.core
    bound = threads * elem * 8.0 * 2.0**core.width * (core.n_leaves + core.n_steps) + core.table_bytes
    return bound <= 2.0 * budget or call_bytes(plan, elem, threads) <= 2.0 * budget


def _sliced_cached(plan: StructurePlan, key, target) -> StructurePlan:
    """``sliced_plan`` of a cached unsliced plan, itself cached under (key, target) when it slices."""
    if target is None or (target[0] == "limit" and _fits(plan, target)):
        return plan
    skey = key + (target,)
    out = _PLAN_CACHE.get(skey)
    if out is None:
        out = sliced_plan(plan, target)
        _PLAN_CACHE.put(skey, out, _plan_bytes(out) + len(key[0]))
    return out


def sliced_plan(plan: StructurePlan, target, slicer: str = "auto") -> StructurePlan:
    """``plan`` sliced to meet ``target`` (``slice_target``); ``plan`` itself when it fits already.

    ``("size", n)``: every tensor of a slice has at most n complex elements (ValueError when n is below the
    network's largest gate tensor, which slicing does not split). ``("limit", bytes, ...)``: a plan whose
    gradient call (``call_bytes``) is over the memory limit is sliced until that is at most ``bytes`` (half
    the limit), one more index at a time; a plan that cannot get there within the engine's 40 sliced
    indices is returned as sliced as it got (the memory guard then refuses it with its estimate).
    """
    from .slicing import choose_slices, target_width

    labels = [lf[3] for lf in plan.leaves]
    if target[0] == "size":
        widest_leaf = max((len(ls) for ls in labels), default=0)
        if target[1] < 2.0**widest_leaf:
            raise ValueError(f"target_size={target[1]:.6g} is smaller than the network's largest tensor "
                             f"(2^{widest_leaf} = {2**widest_leaf} elements, a gate); slicing cannot go below it")
        tw = target_width(target[1])
        if plan.width <= tw:
            return plan
        return plan.with_slices(choose_slices(labels, plan.tree, tw, slicer))
    if _fits(plan, target):
        return plan
    _, budget, elem, threads = target
    # Start where one thread's largest tensor alone takes at most the budget, then one index at a time.
    fit = int(math.floor(math.log2(max(1.0, budget / (threads * elem)))))
    if plan.width - fit > _MAX_LIMIT_SLICED:
        return plan  # at least 2^_MAX_LIMIT_SLICED contractions: refused by the guard instead
    from .slicing import greedy_slices, sliced_cost

    # The engine's greedy slicer one index at a time (incremental, cheap), a few widths at most; then the
    # other slicer at the width reached, kept when it costs fewer flops and fits too.
    tw, sliced, out = min(plan.width - 1, fit), [], plan
    for _ in range(8):
        sliced = greedy_slices(labels, plan.tree, tw, start=sliced)
        if len(sliced) > _MAX_LIMIT_SLICED:
            return plan
        out = plan.with_slices(sliced)
        if call_bytes(out, elem, threads) <= budget or tw <= 0:
            break
        tw = min(tw, out.width) - 1
    if slicer != "greedy" and call_bytes(out, elem, threads) <= budget:
        alt = choose_slices(labels, plan.tree, out.width, slicer)
        if sliced_cost(labels, plan.tree, alt)[0] < sliced_cost(labels, plan.tree, sliced)[0]:
            alt_plan = plan.with_slices(alt)
            if call_bytes(alt_plan, elem, threads) <= budget:
                out = alt_plan
    return out


def plan_for(structure: dict, optimize: str = "auto", target=None) -> StructurePlan:
    """The compiled contraction plan of a structure, cached under its structural key (and the slicing
    target, ``slice_target``; None: not sliced)."""
    key = (structure["key"], optimize)
    plan = _PLAN_CACHE.get(key)
    if plan is None:
        plan = StructurePlan(structure, optimize)
        _PLAN_CACHE.put(key, plan, _plan_bytes(plan) + len(structure["key"]))
    return _sliced_cached(plan, key, target)


def plans_for(tn, optimize: str = "auto", refuse_bytes: float = float("inf"), elem_bytes: int = 16, target=None):
    """``plan_for`` of every structure of a ``_core.TensorNet``, in order (a generator), with the same trees.

    With "auto", the structures not in the cache are planned by the engine at once (networks, greedy paths
    and compiled plans in C++, in parallel, ``TensorNet.plan_greedy``); Python then only looks again at the
    networks "auto" treats otherwise: exhaustive search for at most _OPTIMAL_MAX tensors, randomised greedy
    trials for an expensive greedy tree (``_refine``). Every other plan is the engine's greedy one, as
    ``plan_for`` would make it. Should the engine's batch fail (a network too wide to compile), the
    structures are planned one by one as they are consumed, so that the error is the one a loop over
    ``plan_for`` meets first. The engine's batch also ends at the first plan whose forward workspace and
    tables exceed ``refuse_bytes`` (the caller refuses it), so that nothing after it is planned.
    """
    n = tn.n_structures
    keys = [tn.structure_key(s) for s in range(n)]
    plans = [_PLAN_CACHE.get((k, optimize)) for k in keys]
    missing = [s for s in range(n) if plans[s] is None]
    cores: dict[int, Any] = {}
    if optimize == "auto" and missing:
        cores = dict(zip(missing, tn.plan_greedy(missing, refuse_bytes, elem_bytes)))
    limit = _core.memory_limit()
    for s in range(n):
        plan = plans[s]
        if plan is None:
            key = (keys[s], optimize)
            core = cores.get(s)
            if core is not None and core.n_leaves > _OPTIMAL_MAX and not _refine(core.forward_macs, core.width, limit):
                plan = StructurePlan.from_core(core)
            elif core is not None and core.n_leaves > _OPTIMAL_MAX:
                plan = StructurePlan(tn.structure(s), optimize, greedy=core, memory_limit=limit)
            else:
                plan = StructurePlan(tn.structure(s), optimize)
            _PLAN_CACHE.put(key, plan, _plan_bytes(plan) + len(keys[s]))
        yield _sliced_cached(plan, (keys[s], optimize), target)


def clear_plan_cache() -> None:
    """Forget every cached contraction plan (``pq.clear_caches()`` empties every cache)."""
    _PLAN_CACHE.clear()
