"""Exact sampling of wide shallow circuits by sequential marginals through light-cone tensor networks.

The requested wires ``w_1..w_K`` are sampled one after another. At level k the shots that share a prefix
``b_1..b_{k-1}`` share one network, the reverse light cone of ``w_1..w_k`` with the prefix projected and
``w_k`` left open::

    |0>--[U1]--[U3]--+                 prefix wire: |b><b| (ket and bra end, batch index p)
                     |b_p><b_p|
    <0|--[U1*]-[U3*]-+
    |0>--[U2]--[U3]--+
                     o--- out          current wire w_k: ket and bra end joined to the open index
    <0|--[U2*]-[U3*]-+
    |0>--[U4]--------+                 other cone wires: ket and bra end joined (traced)
    <0|--[U4*]-------+

so that one contraction gives ``p(prefix, 0)`` and ``p(prefix, 1)`` for every distinct prefix ``p`` at
once (output (P, 2)); ``p(b_k = 1 | prefix) = p(prefix, 1) / (p(prefix, 0) + p(prefix, 1))`` and each shot
draws its bit from its row's generator. Projectors are diagonal like Z, so the engine's commutation-aware
light cone of the word ``Z..Z`` on ``w_1..w_k`` (``_core.TensorNet(...).cones()``, all levels in one call
per chunk) is exactly the set of gates that enter.

Consecutive levels differ only near the new wire, so contracted pieces are kept between levels. Every leaf
tensor knows the level at which it leaves the network (a trace that becomes the open wire, the open wire
that becomes a projector, a gate whose neighbour in the cone changes), and a level contracts longest-lived
first: for each death level, latest first, what lives at least that long is joined per connected component.
A piece is thus never merged with a tensor that leaves sooner than it must, and the next level starts from
the pieces that are still alive (on a 1-D brickwork sampled left to right: one left environment) plus the
new leaves. Intermediates that carry the prefix batch index are re-indexed (gathered) from one level's
prefixes to the next one's. Each new projector is scaled by ``1 / p(b_k | prefix)``, so a level's output is
the conditional distribution itself, with no underflow after hundreds of wires (also in complex64).

Pairwise steps follow opt_einsum's greedy path over the few pieces of a level (the batch counted at its
true size, so batch-free parts are contracted first), projectors act as masks and selections, the rest as
(batched) GEMM in numpy, with BLAS pinned to one thread (threadpoolctl, when installed): the products are
small and many. The cost per level is about ``P * 2^(cut)`` with P <= shots distinct prefixes and a cut
that grows with the depth, so the method is for shallow circuits; a tensor over the memory limit is refused
with ``pyqml.MemoryLimitError`` before it is formed.

Example::

    bits = sample(circuit, weights, None, wires=range(circuit.n_wires), shots=1000, seed=0)  # (1, 1000, n)
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import numpy as np
import opt_einsum as oe

from .. import _core

try:  # optional: pins BLAS to one thread during sampling (see _one_blas_thread)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - depends on the environment
    threadpool_limits = None

# Levels whose light cones are asked of the engine at once (bounds the memory of its cone structures).
_CONE_CHUNK = 64
_NEVER = 1 << 62
# Pairwise products with (summed size) x (size of one side) up to this run as einsum loops when BLAS
# cannot be pinned to one thread (its threads cost more than they bring on such thin products).
_THIN = 16 if threadpool_limits is None else 0

_DTYPES = {"complex128": np.complex128, "complex64": np.complex64}

__all__ = ["sample", "sequential_probabilities"]


def _check(circuit, wires: Sequence[int], shots: int | None, precision: str) -> list[int]:
    if precision not in _DTYPES:
        raise ValueError(f"precision must be 'complex128' or 'complex64', got {precision!r}")
    if shots is not None:
        if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
            raise ValueError(f"shots must be a positive integer, got {shots!r}")
    try:
        ws = [int(w) for w in wires]
    except (TypeError, ValueError):
        raise ValueError(f"wires must be a sequence of integers, got {wires!r}") from None
    if not ws:
        raise ValueError("wires: need at least one wire to sample")
    if len(set(ws)) != len(ws):
        raise ValueError(f"wires {ws} are repeated")
    bad = [w for w in ws if not 0 <= w < circuit.n_wires]
    if bad:
        raise ValueError(f"wires {bad} out of range for a circuit of {circuit.n_wires} wires")
    return ws


def _level_cones(circuit, wires: list[int], precision: str) -> list[list[int]]:
    """Op indices (time order) of the reverse light cone of ``Z`` on ``wires[:k+1]``, for every level k."""
    K = len(wires)
    level_of = {frozenset(wires[:k + 1]): k for k in range(K)}
    cones: list = [None] * K
    for start in range(0, K, _CONE_CHUNK):
        ks = range(start, min(K, start + _CONE_CHUNK))
        tn = _core.TensorNet(circuit.core, [[(1.0, wires[:k + 1], "Z" * (k + 1))] for k in ks], precision)
        # One term per distinct Pauli word; identify each by its Z wires rather than by position.
        for ops, cwires, letters, _structure in tn.cones():
            k = level_of.get(frozenset(w for w, p in zip(cwires, letters) if p == "Z"))
            if k is None or cones[k] is not None:
                raise RuntimeError("light cones returned for an unexpected Pauli word")
            cones[k] = list(ops)
    if any(c is None for c in cones):
        raise RuntimeError("the engine returned fewer light cones than levels")
    return cones


class _Plan:
    """The leaves of every level's network, found incrementally from one level's cone to the next.

    A leaf is ``(id, kind, ref, labels)``: kind "K"/"B" a ket/bra gate (ref: op index; labels: outputs then
    inputs, as the gate matrix reshaped to (2,)*2n), "Z" a |0> on a ket or bra wire end, "P" a prefix
    projector on (ket end, bra end) with the batch index, "O" the open current wire (out, ket end, bra end),
    "T" a trace (ket end, bra end). ``added[k]`` are the leaves that enter at level k; ``death[id]`` is the
    level at which a leaf leaves (``_NEVER`` if it stays to the end).
    """

    def __init__(self, circuit, wires: list[int], precision: str):
        ops = circuit.ops
        self.wires = wires
        self.K = K = len(wires)
        self.op_wires = [tuple(op.wires) for op in ops]
        cones = _level_cones(circuit, wires, precision)
        ops_on: dict[int, list[int]] = {}
        for j, ws in enumerate(self.op_wires):
            for w in ws:
                ops_on.setdefault(w, []).append(j)
        seg: dict[tuple, int] = {}

        def label(key) -> int:
            s = seg.get(key)
            if s is None:
                s = seg[key] = len(seg)
            return s

        self.out = label(("out",))
        seq: dict[int, list[int]] = {}     # cone ops on each wire, time order (current level)
        slots: dict[tuple, tuple] = {}     # slot -> (key, leaf id)
        self.added: list[list[tuple]] = []
        self.death: list[int] = []
        prev: set[int] = set()

        def update(k: int, new_leaves: list, slot: tuple, spec) -> None:
            """Set a slot's leaf at level k: unchanged, replaced (the old leaf dies at k) or removed."""
            old = slots.get(slot)
            key = None if spec is None else (spec[0], tuple(spec[1]))
            if old is not None and old[0] == key:
                return
            if old is not None:
                self.death[old[1]] = k
                del slots[slot]
            if spec is not None:
                lid = len(self.death)
                self.death.append(_NEVER)
                slots[slot] = (key, lid)
                new_leaves.append((lid, spec[0], slot[1], list(spec[1])))

        for k in range(K):
            cone = set(cones[k])
            prefix = set(wires[:k])
            affected = {w for j in cone ^ prev for w in self.op_wires[j]}
            affected.add(wires[k])
            if k:
                affected.add(wires[k - 1])
            touched_ops: set[int] = set()
            for w in affected:
                touched_ops.update(seq.get(w, ()))
                seq[w] = [j for j in ops_on.get(w, ()) if j in cone]
                touched_ops.update(seq[w])
            new_leaves: list[tuple] = []
            for j in sorted(touched_ops):
                if j in cone:
                    ws = self.op_wires[j]
                    ins = []
                    for w in ws:
                        s = seq[w]
                        i = s.index(j)
                        ins.append(s[i - 1] if i else -1)
                    for side, kind in (("k", "K"), ("b", "B")):
                        labels = [label((side, w, j)) for w in ws] + [label((side, w, p)) for w, p in zip(ws, ins)]
                        update(k, new_leaves, (kind, j), (kind, labels))
                else:
                    update(k, new_leaves, ("K", j), None)
                    update(k, new_leaves, ("B", j), None)
            for w in sorted(affected):
                in_cone = bool(seq[w]) or w in prefix or w == wires[k]
                last = seq[w][-1] if seq[w] else -1
                for side in ("k", "b"):
                    update(k, new_leaves, ("Z" + side, w), ("Z", [label((side, w, -1))]) if in_cone else None)
                if not in_cone:
                    update(k, new_leaves, ("E", w), None)
                    continue
                ends = [label(("k", w, last)), label(("b", w, last))]
                if w in prefix:
                    update(k, new_leaves, ("E", w), ("P", ends))
                elif w == wires[k]:
                    update(k, new_leaves, ("E", w), ("O", [self.out] + ends))
                else:
                    update(k, new_leaves, ("E", w), ("T", ends))
            self.added.append(new_leaves)
            prev = cone


_ZERO = np.array([1.0, 0.0])
_OPEN = np.zeros((2, 2, 2))
_OPEN[0, 0, 0] = _OPEN[1, 1, 1] = 1.0


class _Node:
    __slots__ = ("data", "labels", "has_p", "level", "death", "parent", "proj")

    def __init__(self, data, labels, has_p, level, death, proj=None):
        self.proj = proj        # a projector leaf: (bit, scale) per prefix
        self.data = data
        self.labels = labels
        self.has_p = has_p
        self.level = level      # the level whose prefixes index the batch axis
        self.death = death      # the first level without this node (the earliest death of its leaves)
        self.parent = None


def _pair(a: _Node, b: _Node, level: int, keep: list[_Node]) -> _Node:
    """Contract two nodes over their shared labels; the prefix batch axis (first, if present) is kept.

    A child that outlives the result stays in ``keep`` (it is a piece again once the result leaves the
    network); the data of the others is dropped."""
    if (a.proj is None) != (b.proj is None) and set(a.labels) & set(b.labels):
        node = _project(b, a) if a.proj is not None else _project(a, b)
    else:
        node = _product(a, b)
    node.level, node.death = level, min(a.death, b.death)
    for child in (a, b):
        child.parent = node
        if child.death > node.death:
            keep.append(child)
        else:
            child.data = None
    return node


def _project(x: _Node, q: _Node) -> _Node:
    """Apply a projector leaf ``q`` (labels ket end, bra end; ``s_p |b_p><b_p|``) to ``x``: a selection of
    the slice ``b_p`` per prefix, not a product."""
    b, s = q.proj
    P = b.shape[0]
    data = x.data if x.has_p else np.broadcast_to(x.data, (P,) + x.data.shape)
    pos = sorted(x.labels.index(y) for y in q.labels if y in x.labels)
    n = len(x.labels)
    onehot = np.zeros((P, 2), dtype=x.data.dtype)
    onehot[np.arange(P), b] = s
    if len(pos) == 1:
        # s_p |b_p><b_p| on one shared end is a mask of that axis; the label becomes the other end.
        i = pos[0]
        out = data.reshape(P, 1 << i, 2, -1) * onehot[:, None, :, None]
        labels = list(x.labels)
        labels[i] = next(y for y in q.labels if y not in x.labels)
        return _Node(out.reshape((P,) + (2,) * n), labels, True, 0, 0)
    # Both ends shared: the diagonal of the two axes at b_p.
    i, j = pos
    d = data.reshape(P, 1 << i, 2, 1 << (j - i - 1), 2, -1)
    sel = b.astype(bool)[:, None, None, None]
    picked = np.where(sel, d[:, :, 1, :, 1, :], d[:, :, 0, :, 0, :]) * s[:, None, None, None]
    rest = [y for y in x.labels if y not in q.labels]
    return _Node(picked.reshape((P,) + (2,) * (n - 2)), rest, True, 0, 0)


def _product(a: _Node, b: _Node) -> _Node:
    if b.has_p and not a.has_p:
        a, b = b, a
    lb_set = set(b.labels)
    shared = [x for x in a.labels if x in lb_set]
    sh_set = set(shared)
    fa = [x for x in a.labels if x not in sh_set]
    fb = [x for x in b.labels if x not in sh_set]
    off_a, off_b = int(a.has_p), int(b.has_p)
    pa = [off_a + a.labels.index(x) for x in fa + shared]
    pb = [off_b + b.labels.index(x) for x in shared + fb]
    ns, nfa, nfb = 1 << len(shared), 1 << len(fa), 1 << len(fb)
    # (Batched) GEMM; thin products as einsum loops where BLAS threads could not be pinned (see _THIN).
    thin = ns * nfb <= _THIN or ns * nfa <= _THIN
    if a.has_p:
        P = a.data.shape[0]
        A = a.data.transpose([0] + pa)
        if b.has_p:
            A3, B3 = A.reshape(P, nfa, ns), b.data.transpose([0] + pb).reshape(P, ns, nfb)
            C = np.einsum("pij,pjk->pik", A3, B3) if thin else np.matmul(A3, B3)
        else:
            A2, B2 = A.reshape(P * nfa, ns), b.data.transpose(pb).reshape(ns, nfb)
            C = np.einsum("ij,jk->ik", A2, B2) if thin else A2 @ B2
        shape = (P,) + (2,) * (len(fa) + len(fb))
    else:
        A2, B2 = a.data.transpose(pa).reshape(nfa, ns), b.data.transpose(pb).reshape(ns, nfb)
        C = np.einsum("ij,jk->ik", A2, B2) if thin else A2 @ B2
        shape = (2,) * (len(fa) + len(fb))
    return _Node(C.reshape(shape), fa + fb, a.has_p, 0, 0)


def _contract(items: list[_Node], out: set[int], n_prefixes: int, level: int, memory: float,
              keep: list[_Node]) -> _Node:
    """Contract nodes to one, keeping the labels in ``out`` (and the batch axis), along opt_einsum's greedy
    path with the batch counted at its size; refuses (``MemoryLimitError``) a tensor over the limit."""
    if len(items) == 1:
        return items[0]
    # opt_einsum's greedy search on label sets; the batch axis is the label -1, of its true size.
    inputs = [frozenset(it.labels + [-1] if it.has_p else it.labels) for it in items]
    output = frozenset(out | ({-1} if any(it.has_p for it in items) else set()))
    sizes = {x: 2 for ls in inputs for x in ls}
    sizes[-1] = n_prefixes
    path = [(0, 1)] if len(items) == 2 else oe.paths.greedy(inputs, output, sizes)
    cur = list(items)
    for pair in path:
        i, j = sorted(pair)
        b = cur.pop(j)
        a = cur.pop(i)
        elements = 2.0 ** len(set(a.labels) ^ set(b.labels)) * (n_prefixes if a.has_p or b.has_p else 1)
        if 16.0 * elements > memory:
            raise _core.MemoryLimitError(
                f"sampling: a level's network needs a tensor of {elements:.3g} elements, over the memory limit "
                f"of {memory:.3g} bytes (pyqml.set_memory_limit); the circuit is too deep for exact sampling "
                "by marginals")
        cur.append(_pair(a, b, level, keep))
    return cur[0]


class _RowSampler:
    """One row's level-by-level contractions; ``run`` chooses each level's bit per shot via a callback."""

    def __init__(self, plan: _Plan, circuit, angles: np.ndarray, dtype):
        self.plan = plan
        self.dtype = dtype
        self.ops = circuit.ops
        self.angles = angles
        self.offsets = np.concatenate([[0], np.cumsum([len(op.params) for op in circuit.ops])]).astype(int)
        self.memory = float(_core.memory_limit())
        self._gates: dict[int, np.ndarray] = {}

    def _gate(self, j: int) -> np.ndarray:
        g = self._gates.get(j)
        if g is None:
            op = self.ops[j]
            n = len(op.wires)
            if op.matrix is not None:
                m = np.asarray(op.matrix, dtype=complex)
            else:
                m = _core.gate_matrix(op.name, [float(v) for v in self.angles[self.offsets[j]:self.offsets[j + 1]]],
                                      n)
            g = self._gates[j] = np.ascontiguousarray(m.reshape((2,) * (2 * n)), dtype=self.dtype)
        return g

    def _leaf(self, kind: str, ref: int, labels: list[int], death: int, k: int, n_prefixes: int,
              prefix_data: Callable[[int], tuple[np.ndarray, np.ndarray]]) -> _Node:
        if kind == "K":
            return _Node(self._gate(ref), labels, False, k, death)
        if kind == "B":
            return _Node(self._gate(ref).conj(), labels, False, k, death)
        if kind == "Z":
            return _Node(_ZERO.astype(self.dtype), labels, False, k, death)
        if kind == "T":
            return _Node(np.eye(2, dtype=self.dtype), labels, False, k, death)
        if kind == "O":
            return _Node(_OPEN.astype(self.dtype), labels, False, k, death)
        # "P": |b><b| per prefix, scaled by 1 / p(b | the prefix before it)
        b, s = prefix_data(ref)
        data = np.zeros((n_prefixes, 2, 2), dtype=self.dtype)
        data[np.arange(n_prefixes), b, b] = s
        return _Node(data, labels, True, k, death, proj=(b.astype(np.intp), s.astype(self.dtype)))

    def _join(self, comp: list[_Node], k: int, n_prefixes: int, kept: list[_Node]) -> _Node:
        """Contract a connected component to one node over the labels it shares with the rest."""
        count: dict[int, int] = {}
        for nd in comp:
            for x in nd.labels:
                count[x] = count.get(x, 0) + 1
        boundary = {x for x, c in count.items() if c == 1}
        return _contract(comp, boundary, n_prefixes, k, self.memory, kept)

    def run(self, shots: int, choose: Callable[[int, np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(bits (shots, K) int8, joint probability of each shot's bits (shots,))."""
        plan, K = self.plan, self.plan.K
        bits = np.zeros((shots, K), dtype=np.int8)
        joint = np.ones(shots)
        pid = np.zeros(shots, dtype=np.int64)          # each shot's prefix at the current level
        n_prefixes = 1
        anc: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]   # anc[L]: level-L prefix -> level L-1 prefix
        wire_bits: dict[int, np.ndarray] = {}          # wires[j] -> its bit per prefix of level j+1
        wire_scale: dict[int, np.ndarray] = {}
        level_of_wire = {w: i for i, w in enumerate(plan.wires)}
        kept: list[_Node] = []

        def to_level(idx_level: int, level: int) -> np.ndarray:
            """Map from the prefixes of ``level`` (the current one) to their ancestors at ``idx_level``."""
            m = np.arange(n_prefixes)
            for L in range(level, idx_level, -1):
                m = anc[L][m]
            return m

        def prefix_data(w: int, k: int) -> tuple[np.ndarray, np.ndarray]:
            m = to_level(level_of_wire[w] + 1, k)
            return wire_bits[w][m], wire_scale[w][m]

        for k in range(K):
            # Pieces kept from earlier levels: alive, and no longer inside a live parent.
            pieces, still, seen = [], [], set()
            for nd in kept:
                if id(nd) in seen or nd.data is None:
                    continue
                seen.add(id(nd))
                if nd.death <= k:
                    nd.data = None
                    continue
                still.append(nd)
                if nd.parent is None or nd.parent.death <= k:
                    nd.parent = None
                    if nd.has_p and nd.level != k:
                        m = to_level(nd.level, k)
                        nd.data = nd.data[m]
                        if nd.proj is not None:
                            nd.proj = (nd.proj[0][m], nd.proj[1][m])
                        nd.level = k
                    pieces.append(nd)
            kept = still
            items = pieces + [self._leaf(kind, ref, labels, plan.death[lid], k, n_prefixes,
                                         lambda w, k=k: prefix_data(w, k))
                              for lid, kind, ref, labels in plan.added[k]]
            # Longest-lived first: for each death level, latest first, join per connected component what
            # lives at least that long, so that a piece is never merged with a tensor that leaves sooner
            # than it must.
            nodes = items
            for d in sorted({nd.death for nd in items}, reverse=True)[:-1]:
                group = [nd for nd in nodes if nd.death >= d]
                nodes = [nd for nd in nodes if nd.death < d]
                for comp in _components(group):
                    nodes.append(self._join(comp, k, n_prefixes, kept))
            root = _contract(nodes, {plan.out}, n_prefixes, k, self.memory, kept)
            if root.labels != [plan.out]:
                raise RuntimeError(f"sampling: level {k} contracted to labels {root.labels}")
            R = np.asarray(root.data).real.astype(float)
            root.data = None
            if not root.has_p:
                R = np.broadcast_to(R, (n_prefixes, 2))
            total = R[:, 0] + R[:, 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                p1 = np.clip(np.where(total > 0, R[:, 1] / total, 0.5), 0.0, 1.0)
            b = np.asarray(choose(k, p1[pid]), dtype=np.int8)
            bits[:, k] = b
            joint *= np.where(b == 1, p1[pid], 1.0 - p1[pid])
            uniq, inv = np.unique(pid * 2 + b, return_inverse=True)
            parent_of = uniq // 2
            ub = (uniq % 2).astype(np.int64)
            pc = np.where(ub == 1, p1[parent_of], 1.0 - p1[parent_of])
            with np.errstate(divide="ignore"):
                wire_scale[plan.wires[k]] = np.where(pc > 0, 1.0 / pc, 0.0)
            wire_bits[plan.wires[k]] = ub
            anc.append(parent_of)
            pid = inv.reshape(-1).astype(np.int64)
            n_prefixes = len(uniq)
        return bits, joint


def _components(nodes: list[_Node]) -> list[list[_Node]]:
    """Connected components of nodes joined by shared labels (the batch index does not connect)."""
    parent = list(range(len(nodes)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[int, int] = {}
    for i, nd in enumerate(nodes):
        for x in nd.labels:
            j = owner.setdefault(x, i)
            if j != i:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[ri] = rj
    groups: dict[int, list[_Node]] = {}
    for i, nd in enumerate(nodes):
        groups.setdefault(find(i), []).append(nd)
    return list(groups.values())


def _one_blas_thread():
    """The products here are small (kilobytes to a few MB, thousands of them per level sweep), where BLAS
    threads cost more than they bring (10-30x slower on a busy machine): run them on one thread."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _angles(circuit, weights, inputs) -> np.ndarray:
    if weights is None:
        weights = circuit.default_weights if circuit.default_weights is not None else np.zeros(circuit.n_weights)
    angles = np.asarray(circuit.core.bind(np.asarray(weights, dtype=float), inputs))
    counts = [len(op.params) for op in circuit.ops]
    if angles.shape[1] != sum(counts):
        raise RuntimeError("sampling: bound angles do not match the circuit's op parameters")
    return angles


def sample(circuit, weights, inputs, wires: Sequence[int], shots: int, seed: int,
           precision: str = "complex128") -> np.ndarray:
    """Exact samples of ``wires`` (in the order given) by sequential marginals through light-cone networks.

    Parameters
    ----------
    circuit : pyqml.Circuit
    weights : array (n_weights,) or (rows, n_weights)
    inputs : array (rows, n_inputs) or None
    wires : sequence of int
        Distinct wires to measure; column j of the result is ``wires[j]``.
    shots : int
        Samples per row.
    seed : int
        Row r draws from ``np.random.default_rng(seed + r)``.
    precision : {"complex128", "complex64"}

    Returns
    -------
    ndarray of int8, shape (rows, shots, len(wires)), entries 0 or 1.
    """
    ws = _check(circuit, wires, shots, precision)
    angles = _angles(circuit, weights, inputs)
    plan = _Plan(circuit, ws, precision)
    out = np.zeros((angles.shape[0], int(shots), len(ws)), dtype=np.int8)
    with _one_blas_thread():
        for r in range(angles.shape[0]):
            rng = np.random.default_rng(int(seed) + r)
            row = _RowSampler(plan, circuit, angles[r], _DTYPES[precision])
            out[r] = row.run(int(shots), lambda k, p1, rng=rng: rng.random(p1.shape[0]) < p1)[0]
    return out


def sequential_probabilities(circuit, weights, inputs, wires: Sequence[int], bits,
                             precision: str = "complex128") -> np.ndarray:
    """The probability of each bit string on ``wires`` as the sampler sees it: the product of the
    per-level conditionals ``p(b_k | b_1..b_{k-1})``, computed by the same contractions as :func:`sample`
    with each level's bit given instead of drawn.

    ``bits`` is (n_strings, len(wires)) of 0/1; returns (rows, n_strings).
    """
    ws = _check(circuit, wires, None, precision)
    b = np.asarray(bits)
    if b.ndim != 2 or b.shape[1] != len(ws) or not np.isin(b, (0, 1)).all():
        raise ValueError(f"bits must be (n_strings, {len(ws)}) of 0 or 1, got shape {b.shape}")
    angles = _angles(circuit, weights, inputs)
    plan = _Plan(circuit, ws, precision)
    out = np.zeros((angles.shape[0], b.shape[0]))
    with _one_blas_thread():
        for r in range(angles.shape[0]):
            row = _RowSampler(plan, circuit, angles[r], _DTYPES[precision])
            out[r] = row.run(b.shape[0], lambda k, p1: b[:, k])[1]
    return out
