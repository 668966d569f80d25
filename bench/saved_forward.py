"""The demo epoch's two engine calls (values, then the VJP without input gradients) at 150 rows, from Python.

    python bench/saved_forward.py [--threads 1 2] [--repeats 2000] [--rows 150]

For the seed QNN (4-wire AngleEmbedding, StronglyEntanglingLayers L=2, <Z_i> x 4) compiled as the demo's
QuantumLayer does, each variant times the pair of calls a training step makes, median and fastest over
interleaved rounds (so load from other work hits every variant alike):

* ``lanes``: ``cq.expval`` + ``cq.vjp(need_dx=False)`` with the shared-suffix path off (the row paths);
* ``shared``: the same two calls with the path forced on (each call on its own: the VJP recomputes the forward);
* ``kept``: ``cq.forward`` + ``cq.vjp(..., saved=handle)`` with the cost model's choice (what
  QuantumLayer.train_forward / _backward do);
* ``engine_kept``: the engine's ``StateVector.forward`` + ``vjp_saved`` alone (no CompiledQNode layer);
* ``epoch_lanes`` / ``epoch_kept``: ``HybridModel.train_step`` on all 150 Iris rows (the demo's 150-row epoch:
  both engine calls, the Dense layer, the loss, the Adam step), path off / cost model.

Prints one JSON line per thread count.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

import pyqml as pq
from pyqml import _core


def make_cq():
    @pq.qnode(wires=4, method="statevector")
    def qnn(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(4))
        pq.StronglyEntanglingLayers(weights, wires=range(4))
        return [pq.expval(pq.Z(i)) for i in range(4)]

    return qnn.compile({"weights": (2, 4, 3)}, 4)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=150)
    a = ap.parse_args(argv)
    from pyqml.__main__ import build_iris_model
    from pyqml.qml.datasets import load_iris, standardize
    from pyqml.qml.optimizers import AdamOptimizer

    rng = np.random.default_rng(0)
    cq = make_cq()
    ex = cq.executor()
    sim = ex._sim
    w = cq.pack([rng.uniform(0, 2 * np.pi, (2, 4, 3))])
    X = np.ascontiguousarray(rng.normal(size=(a.rows, 4)))
    cot = rng.normal(size=(a.rows, 4))
    Xi, yi = load_iris()
    Xi, _, _ = standardize(Xi)
    models = {"epoch_lanes": build_iris_model(2), "epoch_kept": build_iris_model(2)}
    opts = {k: AdamOptimizer(0.05) for k in models}

    def lanes():
        cq.expval(w, X)
        cq.vjp(w, X, cot, need_dx=False)

    def kept():
        _, s = cq.forward(w, X)
        cq.vjp(w, X, cot, need_dx=False, saved=s)

    def engine_kept():
        _, s = sim.forward(w, X)
        sim.vjp_saved(s, w, X, cot, need_dx=False)

    modes = {"lanes": (False,), "shared": (True, True), "kept": (True,), "engine_kept": (True,),
             "epoch_lanes": (False,), "epoch_kept": (True,)}
    calls = {"lanes": lanes, "shared": lanes, "kept": kept, "engine_kept": engine_kept,
             "epoch_lanes": lambda: models["epoch_lanes"].train_step(Xi, yi, opts["epoch_lanes"]),
             "epoch_kept": lambda: models["epoch_kept"].train_step(Xi, yi, opts["epoch_kept"])}
    before = pq.get_num_threads()
    try:
        for threads in a.threads:
            pq.set_num_threads(threads)
            times = {k: [] for k in calls}
            for k, f in calls.items():  # warm-up
                _core._set_sv_shared_suffix(*modes[k])
                for _ in range(20):
                    f()
            rounds = 20
            per = max(1, a.repeats // rounds)
            for _ in range(rounds):
                for k, f in calls.items():
                    _core._set_sv_shared_suffix(*modes[k])
                    for _ in range(per):
                        t0 = time.perf_counter()
                        f()
                        times[k].append(time.perf_counter() - t0)
            _core._set_sv_shared_suffix(True)
            out = {"rows": a.rows, "threads": threads, "keeps_shared_suffix": bool(sim._keeps_shared_suffix(a.rows))}
            for k, t in times.items():
                out[k + "_us"] = {"median": round(float(np.median(t)) * 1e6, 2),
                                  "min": round(float(np.min(t)) * 1e6, 2)}
            print(json.dumps(out), flush=True)
    finally:
        pq.set_num_threads(before)
        _core._set_sv_shared_suffix(True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
