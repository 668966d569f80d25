"""Distributed execution on a Dask cluster (``dask.distributed``): rows and slices as tasks.

Slices of a sliced contraction, and rows of a batch, are independent, so they are the units of work::

    client.scatter(plans, broadcast=True)          # once per call: circuit, observables, compiled plans
    tasks[i, j] = rows chunk i  x  slices [b_j, e_j) of every term    -> partial values (and gradients)
    result      = rows chunks stacked in order, the slice ranges' shares added in range order

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
        self.plans = [p.core for p in ex.plans] if ex.method == "tensornet" else None

    def build(self):
        from . import _core

        if self.plans is not None:
            tn = _core.TensorNet(self.circuit.core, [o.core_terms() for o in self.observables], self.precision,
                                 bool(self.options.get("fuse", True)))
            for s, p in enumerate(self.plans):
                tn.set_plan(s, p)
            return tn
        return self.circuit.executor(self.observables, self.method, self.precision, "jacobian", **self.options)


# Per worker process: the executors of the last few calls (a call's tasks share one).
_WORKER_CACHE: OrderedDict = OrderedDict()


def _worker_executor(payload: _Payload):
    ex = _WORKER_CACHE.get(payload.token)
    if ex is None:
        ex = payload.build()
        _WORKER_CACHE[payload.token] = ex
        while len(_WORKER_CACHE) > 4:
            _WORKER_CACHE.popitem(last=False)
    return ex


def _task(payload: _Payload, kind: str, weights, inputs, begin: int, end: int):
    """One task: rows (weights, inputs) of slices [begin, end) (end < 0: all)."""
    ex = _worker_executor(payload)
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
        slices_per_task: int | None = None, retries: int = 2):
    """``ex.expval(weights, inputs)`` or ``ex.jacobian(weights, inputs)`` (an executor of
    ``Circuit.executor``, with prepared arrays as the measurement functions pass them) on a Dask cluster.

    Rows are split into chunks of ``rows_per_task`` and, for a sliced tensor network, every term's slices
    into ranges of ``slices_per_task``; by default about four tasks per worker thread over whichever of the
    two there is more of. ``retries``: how often Dask reruns a task that raised (a lost worker's tasks are
    rescheduled in any case).
    """
    client = _check_client(client)
    if kind not in KINDS:
        raise ValueError(f"distributed execution computes {KINDS}, not {kind!r}")
    for name, v in (("rows_per_task", rows_per_task), ("slices_per_task", slices_per_task)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) or retries < 0:
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    w = np.asarray(weights, dtype=float)
    x = None if inputs is None else np.asarray(inputs, dtype=float)
    rows = x.shape[0] if x is not None else (w.shape[0] if w.ndim == 2 else 1)
    per_row_w = w.ndim == 2
    n_slices = int(ex._tn.max_slices) if ex.method == "tensornet" else 1
    workers = max(1, sum(client.nthreads().values()))
    want = 4 * workers
    if rows_per_task is None and slices_per_task is None:
        if n_slices >= rows:
            rows_per_task, slices_per_task = rows, math.ceil(n_slices / want)
        else:
            rows_per_task, slices_per_task = math.ceil(rows / want), n_slices
    rows_per_task = rows if rows_per_task is None else int(rows_per_task)
    slices_per_task = n_slices if slices_per_task is None else int(slices_per_task)
    row_chunks = _chunks(rows, rows_per_task)
    slice_ranges = _chunks(n_slices, slices_per_task)

    payload = client.scatter(_Payload(ex), broadcast=True, hash=False)
    futures = []
    for a, b in row_chunks:
        wc = w[a:b] if per_row_w else w
        xc = None if x is None else x[a:b]
        futures.append([client.submit(_task, payload, kind, wc, xc, s0, s1 if s1 < n_slices else -1,
                                      retries=int(retries), pure=False) for s0, s1 in slice_ranges])
    try:
        parts = client.gather(futures)
    finally:
        client.cancel([payload])
    out = []
    for chunk in parts:  # rows in order; slice ranges added in order
        acc = chunk[0]
        for more in chunk[1:]:
            acc = tuple(p + q for p, q in zip(acc, more)) if kind == "jacobian" else acc + more
        out.append(acc)
    if kind == "jacobian":
        return tuple(np.concatenate([o[i] for o in out], axis=0) for i in range(3))
    return np.concatenate(out, axis=0)


def expval(circuit, observables, weights=None, inputs=None, *, client, method: str = "auto",
           precision: str = "complex128", rows_per_task: int | None = None, slices_per_task: int | None = None,
           retries: int = 2, **options):
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
                                                 "retries": retries}, **options)


def jacobian(circuit, observables, weights=None, inputs=None, *, client, method: str = "auto",
             precision: str = "complex128", rows_per_task: int | None = None, slices_per_task: int | None = None,
             retries: int = 2, **options):
    """``pq.jacobian(circuit, observables, ...)`` computed on a Dask ``client`` (see :func:`run`)."""
    from .frontend.measurements import jacobian as _jacobian

    return _jacobian(circuit, observables, weights=weights, inputs=inputs, method=method, precision=precision,
                     executor=client, _distribute={"rows_per_task": rows_per_task, "slices_per_task": slices_per_task,
                                                   "retries": retries}, **options)
