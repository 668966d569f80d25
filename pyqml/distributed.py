"""Distributed execution on a Dask cluster (``dask.distributed``): rows, terms and slices as tasks.

Rows of a batch, the Pauli terms of the observables (each through its own light cone and plan) and the slices
of a sliced contraction are independent, so they are the units of work::

    client.scatter(plans, broadcast=True)          # once per call: circuit, observables, compiled plans
                                                   # (a worker compiles each plan once, reused across calls)
    tasks[i, k, j] = rows chunk i  x  terms chunk k  x  slices [b_j, e_j)   -> partial values (and gradients)
    result         = rows chunks stacked in order; per chunk the (terms, slices) shares added in order

A terms chunk is a contiguous run of the distinct Pauli words (the engine's term order), cut so that the
chunks cost about the same (each word weighs its plan's multiply-adds); every observable keeps its own
coefficients on the words of the chunk, and its constant goes with the first chunk. A worker builds the
chunk's engine from the plans shipped with the call (looked up by cone structure), so no plan is searched
there and each is sent once per worker.

The caller plans (the plans are those of a local call, so no worker searches a path again); each worker
rebuilds the engine's executor from them once per call and keeps it for that call's tasks. The gather is in
a fixed order, so a call gives the same numbers every time, and the same as a local call up to the order of
additions over slice ranges (equal bit for bit when the slices are not split over tasks). A task lost with
its worker is run again by Dask (the scheduler reschedules it; ``retries=`` also reruns tasks that raised).

``pq.expval(circuit, obs, ..., executor=client)`` and ``pq.jacobian(..., executor=client)`` run through
:func:`run`; :func:`expval` and :func:`jacobian` here take the task sizes as well. Works with any
``distributed.Client``: a ``LocalCluster`` or a scheduler address. Dask is imported only here (the
``pyqml[distributed]`` extra), never by ``import pyqml``.
"""
from __future__ import annotations

import math
import uuid
from collections import OrderedDict

import numpy as np

KINDS = ("expval", "jacobian")
# By default a task holds at least this many flops of work (about a second of one core or less), so that the
# per-task cost of the scheduler (milliseconds, tens of them on a loaded machine) stays a small share.
MIN_TASK_FLOPS = 1e9
# Rows the state vector advances together on small registers (cpp/include/pyqml/statevector/lanes.hpp).
STATEVECTOR_ROW_GROUP = 8


def _check_client(client):
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("executor=client needs dask.distributed: pip install 'pyqml[distributed]'") from None
    if not isinstance(client, Client):
        raise TypeError(f"executor= must be a dask.distributed Client, got {type(client).__name__}")
    return client


class _Payload:
    """What every worker needs, shipped once per call: the circuit, observables and, for the tensor network,
    the compiled plans (picklable ``_core.ContractionPlan``s); other methods rebuild their executor."""

    def __init__(self, ex):
        self.token = uuid.uuid4().hex
        self.circuit = ex.circuit
        self.observables = list(ex.observables)
        self.method = ex.method
        self.precision = ex.precision
        self.options = {k: v for k, v in ex.method_options.items()}
        # Plans travel as their pickled state with a digest: a worker compiles each plan (and builds its
        # tables) once and reuses it in later calls that ship the same plan.
        self.plans = [_PlanState(p.core) for p in ex.plans] if ex.method == "tensornet" else None
        self.keys = [ex._tn.structure_key(s) for s in range(ex._tn.n_structures)] if self.plans is not None else None
        self.chunks = None  # per terms chunk: the observables' engine terms on its words

    def seal(self):
        """Key the workers' engines by content for the tensor network (the circuit, the terms, the plans and
        the options), so that later calls shipping the same ones reuse the engines built for earlier calls;
        other methods keep the per-call token."""
        if self.plans is None:
            return
        import hashlib
        import pickle

        h = hashlib.sha256()
        h.update(pickle.dumps((self.circuit, self.precision, sorted(self.options.items(), key=str)),
                              protocol=pickle.HIGHEST_PROTOCOL))
        h.update(pickle.dumps(([o.core_terms() for o in self.observables], self.chunks),
                              protocol=pickle.HIGHEST_PROTOCOL))
        for key, p in zip(self.keys, self.plans):
            h.update(key)
            h.update(p.digest.encode())
        self.token = h.hexdigest()

    def _engine(self, terms):
        from . import _core
        from .tensornet.executor import check_recompute

        tn = _core.TensorNet(self.circuit.core, terms, self.precision, bool(self.options.get("fuse", True)))
        by_key = dict(zip(self.keys, self.plans))
        for s in range(tn.n_structures):
            tn.set_plan(s, by_key[tn.structure_key(s)].plan())
        tn.recompute = check_recompute(self.options.get("recompute", "auto"))
        return tn

    def build(self, chunk: int = -1):
        if self.plans is not None:
            terms = [o.core_terms() for o in self.observables] if chunk < 0 else self.chunks[chunk]
            return self._engine(terms)
        return self.circuit.executor(self.observables, self.method, self.precision, "jacobian", **self.options)


# Per worker process: compiled plans by the digest of their state (bounded; least recently used dropped).
_WORKER_PLANS: OrderedDict = OrderedDict()
_WORKER_PLANS_MAX = 512


class _PlanState:
    """A ContractionPlan as shipped: its pickled state and that state's digest."""

    def __init__(self, core):
        import hashlib
        import pickle

        self.state = pickle.dumps(core, protocol=pickle.HIGHEST_PROTOCOL)
        self.digest = hashlib.sha256(self.state).hexdigest()

    def plan(self):
        import pickle

        p = _WORKER_PLANS.get(self.digest)
        if p is None:
            p = pickle.loads(self.state)
            _WORKER_PLANS[self.digest] = p
            while len(_WORKER_PLANS) > _WORKER_PLANS_MAX:
                _WORKER_PLANS.popitem(last=False)
        else:
            _WORKER_PLANS.move_to_end(self.digest)
        return p


def term_chunks(ex, n_chunks: int | None = None, terms_per_task: int | None = None) -> list[list[list]]:
    """The observables of a tensor-network executor split over contiguous chunks of its distinct Pauli words:
    per chunk, per observable, the engine terms ``(coeff, wires, letters)`` on the chunk's words (the
    constants in the first chunk). ``terms_per_task`` words a chunk, or ``n_chunks`` chunks of about equal
    cost (each word weighs its plan's multiply-adds)."""
    cones = ex._tn.cones()
    words = [tuple(zip(wires, letters)) for _, wires, letters, _ in cones]
    cost = [max(1.0, float(ex.plans[s].forward_macs)) for *_, s in cones]
    n = len(words)
    if terms_per_task is not None:
        bounds = list(range(0, n, int(terms_per_task))) + [n]
    else:
        k = max(1, min(n, int(n_chunks or 1)))
        total, acc, bounds = sum(cost), 0.0, [0]
        for i, c in enumerate(cost):
            acc += c
            # Cut after word i once the running cost reaches the next chunk's share.
            if len(bounds) < k and acc >= total * len(bounds) / k and i + 1 < n:
                bounds.append(i + 1)
        bounds.append(n)
    chunk_of = {}
    for j in range(len(bounds) - 1):
        for i in range(bounds[j], bounds[j + 1]):
            chunk_of[words[i]] = j
    out: list[list[list]] = [[[] for _ in ex.observables] for _ in range(len(bounds) - 1)]
    for o, obs in enumerate(ex.observables):
        for coeff, wires, letters in obs.core_terms():
            word = tuple((w, p) for w, p in zip(wires, letters) if p != "I")
            word = tuple(sorted(word))
            out[chunk_of.get(word, 0)][o].append((coeff, wires, letters))
    return out


# Per worker process: the executors of the last few calls (a call's tasks share one).
_WORKER_CACHE: OrderedDict = OrderedDict()


def _worker_executor(payload: _Payload, chunk: int = -1):
    key = (payload.token, chunk)
    ex = _WORKER_CACHE.get(key)
    if ex is None:
        ex = payload.build(chunk)
        _WORKER_CACHE[key] = ex
        while len(_WORKER_CACHE) > 64:
            _WORKER_CACHE.popitem(last=False)
    return ex


def _task(payload: _Payload, kind: str, weights, inputs, begin: int, end: int, chunk: int = -1):
    """One task: rows (weights, inputs) of slices [begin, end) (end < 0: all) of a terms chunk (-1: all)."""
    ex = _worker_executor(payload, chunk)
    sliced = payload.plans is not None
    if kind == "expval":
        if sliced:
            return ex.expval_slices(weights, inputs, begin, end)
        return ex.expval(weights, inputs)
    if sliced:
        return ex.jacobian_slices(weights, inputs, begin, end)
    return ex.jacobian(weights, inputs)


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def run(ex, kind: str, weights, inputs, client, rows_per_task: int | None = None,
        slices_per_task: int | None = None, retries: int = 2, terms_per_task: int | None = None):
    """``ex.expval(weights, inputs)`` or ``ex.jacobian(weights, inputs)`` (an executor of
    ``Circuit.executor``, with prepared arrays as the measurement functions pass them) on a Dask cluster.

    Rows are split into chunks of ``rows_per_task``, for the tensor network the distinct Pauli words into
    chunks of ``terms_per_task`` (:func:`term_chunks`) and, for a sliced one, every term's slices into ranges
    of ``slices_per_task``. By default (none of the three given) about four tasks per worker thread over rows
    when there are enough rows, else over terms when there are several, else over slices, and never tasks of
    less than ``MIN_TASK_FLOPS`` of estimated work where the method estimates it (the tensor network).
    ``retries``: how often Dask reruns a task that raised (a lost worker's tasks are rescheduled in any case).
    """
    client = _check_client(client)
    if kind not in KINDS:
        raise ValueError(f"distributed execution computes {KINDS}, not {kind!r}")
    for name, v in (("rows_per_task", rows_per_task), ("slices_per_task", slices_per_task),
                    ("terms_per_task", terms_per_task)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) or retries < 0:
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    w = np.asarray(weights, dtype=float)
    x = None if inputs is None else np.asarray(inputs, dtype=float)
    rows = x.shape[0] if x is not None else (w.shape[0] if w.ndim == 2 else 1)
    per_row_w = w.ndim == 2
    tensornet = ex.method == "tensornet"
    if terms_per_task is not None and not tensornet:
        raise ValueError(f"terms_per_task= splits the tensor network's terms; method {ex.method!r} computes "
                         "every term in one pass (split rows instead)")
    n_slices = int(ex._tn.max_slices) if tensornet else 1
    n_terms = int(ex._tn.n_terms) if tensornet else 1
    workers = max(1, sum(client.nthreads().values()))
    want = 4 * workers
    n_term_chunks = 1
    if rows_per_task is None and slices_per_task is None and terms_per_task is None:
        if tensornet:  # no more tasks than MIN_TASK_FLOPS of work each
            flops = 8.0 * ex.cost() * rows * (3.0 if kind == "jacobian" else 1.0)
            want = max(1, min(want, int(flops // MIN_TASK_FLOPS)))
        if rows >= want or want == 1:
            rows_per_task, slices_per_task = math.ceil(rows / want), n_slices
        elif n_terms > 1:
            rows_per_task, slices_per_task = rows, n_slices
            n_term_chunks = min(n_terms, max(1, want // rows))
        elif n_slices >= rows:
            rows_per_task, slices_per_task = rows, math.ceil(n_slices / want)
        else:
            rows_per_task, slices_per_task = math.ceil(rows / want), n_slices
        if ex.method == "statevector" and rows_per_task < rows:
            # Small registers run rows 8 at a time across SIMD lanes (fewer than 3 rows one by one): chunks of
            # whole lane groups give every row the arithmetic of one local call, the local numbers bit for bit.
            g = STATEVECTOR_ROW_GROUP
            rows_per_task = min(rows, g * math.ceil(rows_per_task / g))
    rows_per_task = rows if rows_per_task is None else int(rows_per_task)
    slices_per_task = n_slices if slices_per_task is None else int(slices_per_task)
    row_chunks = _chunks(rows, rows_per_task)
    slice_ranges = _chunks(n_slices, slices_per_task)

    pl = _Payload(ex)
    chunk_ids = [-1]
    if tensornet and (terms_per_task is not None or n_term_chunks > 1):
        pl.chunks = term_chunks(ex, n_term_chunks, terms_per_task)
        chunk_ids = list(range(len(pl.chunks)))
    pl.seal()
    payload = client.scatter(pl, broadcast=True, hash=False)
    futures = []
    for a, b in row_chunks:
        wc = w[a:b] if per_row_w else w
        xc = None if x is None else x[a:b]
        futures.append([client.submit(_task, payload, kind, wc, xc, s0, s1 if s1 < n_slices else -1, k,
                                      retries=int(retries), pure=False)
                        for k in chunk_ids for s0, s1 in slice_ranges])
    try:
        parts = client.gather(futures)
    finally:
        client.cancel([payload])
    out = []
    for chunk in parts:  # rows in order; terms chunks, then slice ranges, added in order
        acc = chunk[0]
        for more in chunk[1:]:
            acc = tuple(p + q for p, q in zip(acc, more)) if kind == "jacobian" else acc + more
        out.append(acc)
    if kind == "jacobian":
        return tuple(np.concatenate([o[i] for o in out], axis=0) for i in range(3))
    return np.concatenate(out, axis=0)


def expval(circuit, observables, weights=None, inputs=None, *, client, method: str = "auto",
           precision: str = "complex128", rows_per_task: int | None = None, slices_per_task: int | None = None,
           retries: int = 2, terms_per_task: int | None = None, **options):
    """``pq.expval(circuit, observables, ...)`` computed on a Dask ``client`` (see :func:`run`).

    Examples
    --------
    >>> from distributed import Client, LocalCluster
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    >>> pyqml.distributed.expval(c, [pq.Z(0)], weights=w, client=client)
    """
    from .frontend.measurements import expval as _expval

    return _expval(circuit, observables, weights=weights, inputs=inputs, method=method, precision=precision,
                   executor=client, _distribute={"rows_per_task": rows_per_task, "slices_per_task": slices_per_task,
                                                 "retries": retries, "terms_per_task": terms_per_task}, **options)


def jacobian(circuit, observables, weights=None, inputs=None, *, client, method: str = "auto",
             precision: str = "complex128", rows_per_task: int | None = None, slices_per_task: int | None = None,
             retries: int = 2, terms_per_task: int | None = None, **options):
    """``pq.jacobian(circuit, observables, ...)`` computed on a Dask ``client`` (see :func:`run`)."""
    from .frontend.measurements import jacobian as _jacobian

    return _jacobian(circuit, observables, weights=weights, inputs=inputs, method=method, precision=precision,
                     executor=client, _distribute={"rows_per_task": rows_per_task, "slices_per_task": slices_per_task,
                                                   "retries": retries, "terms_per_task": terms_per_task}, **options)
