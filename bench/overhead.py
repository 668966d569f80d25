"""Per-call overhead of small circuits, and the demo's training epoch, measured from Python.

    python bench/overhead.py                  # every measurement, JSON to bench/results/overhead.json
    python bench/overhead.py --profile        # also cProfile the warm one-row call and the first call
    python bench/overhead.py --threads 1
    python bench/overhead.py --epochs-only 2000 --out /tmp/epochs.json   # the demo epoch's split only
    python bench/overhead.py --w1-only 2000 --out /tmp/w1.json     # W1 from Python against the engine alone

Measurements (median and minimum of the timed repeats after one untimed warm-up, and the process CPU time
per call, which on a machine shared with other work is the closer measure of a one-thread call; the first
call is timed over fresh qnodes):

* ``warm_call_1row``: ``qnn(x, W)`` on one input row of the seed QNN (4 wires, AngleEmbedding +
  StronglyEntanglingLayers L=2, four <Z_i>), end to end: argument checks, binding, the engine call, the
  result array. Next to it the layers below it: ``compiled_expval_1row`` (CompiledQNode.expval on flat
  arrays) and ``engine_expval_1row`` (the engine's StateVector.expval alone), so the Python share is visible;
  ``warm_call_1row_general`` is the same call by keyword, which takes the general path (binding, argument
  checks, packing) instead of the positional fast call.
* ``first_call``: a new ``@pq.qnode`` defined and called once on 150 rows (tracing, compiling the circuit,
  choosing the method, building the executor, the call), each time a fresh function object.
* ``w1_values_150`` / ``w1_values_and_jacobian_150``: the W1 calls, with the flops of the call (counted from
  the compiled program, cpp/src/statevector/flops.cpp), achieved GFLOP/s and the measured FMA peak of this
  run (one thread and the engine's threads).
* ``epoch_150``: one demo epoch on all 150 Iris rows: HybridModel.train_step (quantum values, dense layer,
  softmax cross-entropy, the engine's VJP, Adam step on every parameter).
* ``training_100_epochs``: building the demo's model (new qnode: tracing and compiling included) and
  training it for 100 epochs on the 120 training rows, as ``python -m pyqml demo`` does (no progress bar).
* ``epoch_150_split``: the epoch's CPU time against the engine's two calls in it (values, kept for the VJP
  where the executor has ``forward``, and the VJP on the 150 rows): what is left is the Python around them
  (layers, the head, the Adam step). Of the layer-by-layer step where the model has the fused one.
* ``epoch_150_pieces`` (one engine thread): the step taken apart with the layers' training calls, each piece
  timed on its own over the same epochs (fastest and median): the quantum layer's forward and backward with
  the engine's values and VJP alone next to them, the dense layer's forward and backward, the softmax
  cross-entropy, the optimiser's flat step (``update_flat``), and the whole ``train_step``; ``python_s`` is
  the step less the engine's two calls. ``fresh_process_stages``: the CPU time of the model's construction
  (qnode, layers), its first training step (tracing, compiling, the engine's first calls) and the next 99
  steps, in fresh interpreters.
* ``--epochs-only N`` (alone): the demo epoch (150 rows, Adam) on 1 and 2 engine threads, N epochs each,
  timed with perf_counter_ns: ``train_step_*`` (one ``train_step``) and ``fit_*`` (one epoch of ``fit``,
  from its history), each against the engine's two calls inside it (values and VJP, timed around the
  executor's calls: their timers' own ~0.1 us count as Python), medians and fastest; where the model takes
  the fused step (``HybridModel.fused_step``: the whole step one engine call, nothing to split) the entry
  says so, and ``*_layered`` is the same model stepped through the layers' calls in the same process;
  ``head_pieces_*``: the layer-by-layer step's pieces (the quantum layer's training forward and backward,
  the head's one engine call, the optimiser's flat step without checks, the plan check of ``train_step``).
* ``--w1-only N`` (alone): the W1 calls from Python (values; values + Jacobian) against the engine's call
  alone on the same arrays, each repeat timing both back to back, on 1 and 2 engine threads: the Python
  share of the call (median and fastest of the differences), and the OpenMP wait policy in effect.
* ``*_fresh_process``: in fresh interpreters (``--fresh-repeats`` each), wall and CPU seconds of
  ``import numpy, pyqml`` (``import_pyqml_fresh_process``), of defining and calling the first qnode on 150
  rows (``first_call_fresh_process``: tracing, compiling, the engine's first call) and of building the
  demo's model and training it for 100 epochs (``training_100_epochs_fresh_process``).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pyqml as pq  # noqa: E402
from pyqml import _core  # noqa: E402

# Fresh interpreters (subprocesses): each prints the wall and CPU seconds of its stages as JSON. CPU time is
# the process's (every thread); on a machine shared with other work the wall clock also counts waiting for a
# core, the CPU time does not.
_STAGES = """
import json, time
P, T = time.process_time, time.perf_counter
marks = {}
def mark(name, c0, t0):
    marks[name] = {"wall_s": T() - t0, "cpu_s": P() - c0}
c0, t0 = P(), T()
import numpy as np
import pyqml as pq
mark("import", c0, t0)
"""
FIRST_CALL_CODE = _STAGES + """
X = np.linspace(-1.0, 1.0, 600).reshape(150, 4)
W = np.linspace(0.0, 6.0, 24).reshape(2, 4, 3)
c0, t0 = P(), T()
@pq.qnode(wires=4)
def f(inputs, weights):
    pq.AngleEmbedding(inputs, wires=range(4))
    pq.StronglyEntanglingLayers(weights, wires=range(4))
    return [pq.expval(pq.Z(i)) for i in range(4)]
f(X, W)
mark("call", c0, t0)
print(json.dumps(marks))
"""
TRAINING_CODE = _STAGES + """
from pyqml.__main__ import build_iris_model, iris_split
from pyqml.qml.optimizers import AdamOptimizer
Xtr, _, ytr, _ = iris_split(seed=0)
c0, t0 = P(), T()
m = build_iris_model(2, 0)
m.fit(Xtr, ytr, epochs=100, optimizer=AdamOptimizer(0.1))
mark("train", c0, t0)
print(json.dumps(marks))
"""
STAGES_CODE = _STAGES + """
from pyqml.__main__ import build_iris_model, iris_split
from pyqml.qml.optimizers import AdamOptimizer
Xtr, _, ytr, _ = iris_split(seed=0)
c0, t0 = P(), T()
m = build_iris_model(2, 0)
opt = AdamOptimizer(0.1)
mark("construct", c0, t0)
c0, t0 = P(), T()
m.fit(Xtr, ytr, epochs=1, optimizer=opt)
mark("first_step", c0, t0)
c0, t0 = P(), T()
m.fit(Xtr, ytr, epochs=99, optimizer=opt)
mark("next_99_steps", c0, t0)
print(json.dumps(marks))
"""


def epoch_pieces(model, X, y, opt, repeats: int) -> dict | None:
    """The training step of the demo model taken apart (see the module docstring); None for a model without
    the layers' training calls."""
    qlayer, dense = model.net.layers
    if not hasattr(qlayer, "train_forward") or not hasattr(opt, "update_flat"):
        return None
    sim = qlayer.compiled(X.shape[1]).executor()._sim
    if not hasattr(sim, "forward"):
        return None
    flat, gflat = model.params[0].base, model.net.grads[0].base
    shapes = tuple(p.shape for p in model.params)
    loss = model.loss
    T = time.perf_counter
    names = ("qlayer_forward", "engine_expval", "dense_forward", "loss", "dense_backward", "qlayer_backward",
             "engine_vjp", "optimizer_step", "train_step")
    acc = {k: [] for k in names}
    wq = flat[:qlayer.compiled(X.shape[1]).n_weights]
    for _ in range(repeats):
        t = [T()]
        q = qlayer.train_forward(X)
        t.append(T())
        _, kept = sim.forward(wq, X)  # the engine's forward as the layer runs it (values kept for the VJP)
        t.append(T())
        z = dense.train_forward(q)
        t.append(T())
        _, d = loss.buffered(z, y)
        t.append(T())
        dq = dense.train_backward(d, True)
        t.append(T())
        qlayer.train_backward(dq, False)
        t.append(T())
        sim.vjp_saved(kept, wq, X, dq, need_dx=False)  # the VJP from what the forward kept, as the layer runs it
        t.append(T())
        opt.update_flat(flat, gflat, shapes)
        t.append(T())
        model.train_step(X, y, opt)
        t.append(T())
        for k, a, b in zip(names, t, t[1:]):
            acc[k].append(b - a)
    out = {k: {"min_s": float(min(v)), "median_s": float(np.median(v))} for k, v in acc.items()}
    step = np.array(acc["train_step"])
    engine = np.array(acc["engine_expval"]) + np.array(acc["engine_vjp"])
    out["python_s"] = {"min_s": float(step.min() - engine.min()), "median_s": float(np.median(step - engine))}
    out["repeats"] = repeats
    return out


def epoch_split(model, X, y, opt, epochs: int, how: str) -> dict:
    """Per epoch, in nanoseconds (perf_counter_ns): the whole epoch (``how="train_step"``: one
    ``model.train_step``; ``how="fit"``: one epoch of ``model.fit(X, y, epochs)``, from its history) and the
    engine's two calls inside it (values and VJP, each timed around the executor's call), their difference
    the Python around them. Medians and the fastest epoch's, after ``epochs // 10`` warm-up epochs."""
    layer = model.net.layers[0]
    ex = layer.compiled(X.shape[1]).executor()
    T = time.perf_counter_ns
    calls = []

    def timed(f):
        def g(*args, **kwargs):
            t0 = T()
            try:
                return f(*args, **kwargs)
            finally:
                calls.append(T() - t0)
        return g

    warm = max(1, epochs // 10)
    for _ in range(warm):
        model.train_step(X, y, opt)
    # The layer's forward is the executor's forward (values kept for the VJP) where it has one, else expval.
    names = ("expval", "vjp") + (("forward",) if hasattr(ex, "forward") else ())
    for name in names:
        setattr(ex, name, timed(getattr(ex, name)))
    try:
        if how == "train_step":
            per = []
            for _ in range(epochs):
                t0 = T()
                model.train_step(X, y, opt)
                per.append(T() - t0)
            per = np.array(per, dtype=float)
        else:
            per = np.array(model.fit(X, y, epochs=epochs, optimizer=opt)["epoch_time"]) * 1e9
    finally:
        for name in names:
            delattr(ex, name)  # the class's methods again
    calls = np.array(calls, dtype=float)
    fastest = int(np.argmin(per))
    if calls.size == 0:  # the fused step: the whole epoch is one engine call, nothing to split
        return {"epoch_median_us": float(np.median(per)) / 1e3, "epoch_min_us": float(per.min()) / 1e3,
                "fused": True, "fastest_epoch_us": float(per[fastest]) / 1e3, "epochs": epochs}
    if calls.size != 2 * epochs:
        raise RuntimeError(f"expected two engine calls per epoch, got {calls.size} in {epochs}")
    engine = calls[0::2] + calls[1::2]
    python = per - engine
    return {"epoch_median_us": float(np.median(per)) / 1e3, "epoch_min_us": float(per.min()) / 1e3,
            "engine_median_us": float(np.median(engine)) / 1e3, "engine_min_us": float(engine.min()) / 1e3,
            "python_median_us": float(np.median(python)) / 1e3, "python_min_us": float(python.min()) / 1e3,
            "fastest_epoch_us": float(per[fastest]) / 1e3, "fastest_epoch_python_us": float(python[fastest]) / 1e3,
            "epochs": epochs}


def head_pieces(model, X, y, opt, repeats: int) -> dict | None:
    """The fused step taken apart (perf_counter_ns, fastest / median over ``repeats``): the quantum layer's
    training forward and backward, the head's one engine call (dense layer, softmax cross-entropy, their
    backward), the optimiser's flat step without checks (``flat_stepper``), and the plan check of
    ``train_step``. None on a tree without the training head."""
    qlayer = model.net.layers[0]
    model.train_step(X, y, opt)
    vp = getattr(model, "_vg", None)
    if vp is None or len(vp) < 6 or vp[5] is None:
        return None
    head = vp[5]
    st = model._flat
    step = opt.flat_stepper(st[1], st[2], st[3])[0]
    plan = model._flat_plan(opt)
    T = time.perf_counter_ns
    names = ("qlayer_forward", "head", "qlayer_backward", "optimizer_step", "plan_check")
    acc = {k: [] for k in names}
    for _ in range(repeats):
        t = [T()]
        q = qlayer.train_forward(X)
        t.append(T())
        _, d = head(q, y)
        t.append(T())
        qlayer.train_backward(d, False)
        t.append(T())
        step()
        t.append(T())
        same = model._flat_plan(opt) is plan
        t.append(T())
        assert same
        for k, a, b in zip(names, t, t[1:]):
            acc[k].append(b - a)
    out = {k: {"min_us": float(min(v)) / 1e3, "median_us": float(np.median(v)) / 1e3} for k, v in acc.items()}
    out["repeats"] = repeats
    return out


def w1_only(a) -> int:
    """``--w1-only N``: the W1 calls from Python (``qnn(X, W)``, ``qnn.jacobian(X, W)`` on 150 rows, as
    bench/compare.py times them) against the engine's call alone (StateVector.expval / .jacobian on the same
    flat arrays), on 1 and 2 engine threads. Each repeat times the Python call and the engine call back to
    back, so both see the same load; ``python_us`` is the median (and the fastest) of the per-repeat
    differences. The OpenMP wait policy in effect is recorded (pyqml sets OMP_WAIT_POLICY=PASSIVE unless the
    environment sets it)."""
    X, W = w1_data()
    qnn = make_qnn()
    qnn(X, W)
    qnn.jacobian(X, W)
    cq = qnn.compiled_for(X, W)
    sim = cq.executor()._sim
    w_flat = cq.pack([W])
    T = time.perf_counter_ns
    rec: dict = {"load_average": os.getloadavg()[0], "repeats": a.w1_only,
                 "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
                 "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT")}
    pairs = (("values", lambda: qnn(X, W), lambda: sim.expval(w_flat, X)),
             ("values_and_jacobian", lambda: qnn.jacobian(X, W), lambda: sim.jacobian(w_flat, X)))
    threads = pq.get_num_threads()
    try:
        for nt in (1, 2):
            pq.set_num_threads(nt)
            for name, py, eng in pairs:
                for _ in range(max(10, a.w1_only // 20)):
                    py()
                    eng()
                tp, te = [], []
                for _ in range(a.w1_only):
                    t0 = T()
                    py()
                    t1 = T()
                    eng()
                    t2 = T()
                    tp.append(t1 - t0)
                    te.append(t2 - t1)
                tp, te = np.array(tp, dtype=float) / 1e3, np.array(te, dtype=float) / 1e3
                rec[f"{name}_{nt}_threads"] = {
                    "python_call_median_us": float(np.median(tp)), "python_call_min_us": float(tp.min()),
                    "engine_median_us": float(np.median(te)), "engine_min_us": float(te.min()),
                    "python_us_median": float(np.median(tp - te)), "python_us_at_min": float(tp.min() - te.min())}
    finally:
        pq.set_num_threads(threads)
    rec["load_average_after"] = os.getloadavg()[0]
    for k, v in rec.items():
        if isinstance(v, dict):
            print(f"{k:30s} Python call {v['python_call_median_us']:7.1f} / {v['python_call_min_us']:7.1f} us "
                  f"(median / min), engine alone {v['engine_median_us']:7.1f} / {v['engine_min_us']:7.1f}, "
                  f"difference {v['python_us_median']:6.1f} / {v['python_us_at_min']:6.1f}")
    print(f"OMP_WAIT_POLICY={rec['OMP_WAIT_POLICY']} GOMP_SPINCOUNT={rec['GOMP_SPINCOUNT']}; load average "
          f"{rec['load_average']:.1f} before, {rec['load_average_after']:.1f} after")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(rec, fh, indent=1)
    return 0


def epochs_only(a) -> int:
    """``--epochs-only N``: the demo epoch's split (train_step and fit) and the fused step's pieces, on 1 and
    2 engine threads, N epochs each."""
    from pyqml.__main__ import build_iris_model
    from pyqml.qml.datasets import load_iris, standardize
    from pyqml.qml.optimizers import AdamOptimizer

    Xi, yi = load_iris()
    Xi, _, _ = standardize(Xi)
    rec: dict = {"load_average": os.getloadavg()[0], "epochs": a.epochs_only}
    threads = pq.get_num_threads()
    try:
        for nt in (1, 2):
            pq.set_num_threads(nt)
            for how in ("train_step", "fit"):
                rec[f"{how}_{nt}_threads"] = epoch_split(build_iris_model(2), Xi, yi, AdamOptimizer(0.05),
                                                         a.epochs_only, how)
                if hasattr(type(build_iris_model(2)), "fused_step"):  # the same step through the layers' calls
                    layered = build_iris_model(2)
                    layered.fused_step = False
                    rec[f"{how}_{nt}_threads_layered"] = epoch_split(layered, Xi, yi, AdamOptimizer(0.05),
                                                                     a.epochs_only, how)
            pieces = head_pieces(build_iris_model(2), Xi, yi, AdamOptimizer(0.05), a.epochs_only)
            if pieces is not None:
                rec[f"head_pieces_{nt}_threads"] = pieces
    finally:
        pq.set_num_threads(threads)
    rec["load_average_after"] = os.getloadavg()[0]
    for k, v in rec.items():
        if isinstance(v, dict) and v.get("fused"):
            print(f"{k:22s} epoch {v['epoch_median_us']:7.1f} / {v['epoch_min_us']:7.1f} us (median / min), "
                  "one engine call (fused step)")
        elif isinstance(v, dict) and "epoch_median_us" in v:
            print(f"{k:22s} epoch {v['epoch_median_us']:7.1f} / {v['epoch_min_us']:7.1f} us (median / min) = engine "
                  f"{v['engine_median_us']:7.1f} / {v['engine_min_us']:7.1f} + Python {v['python_median_us']:6.1f} / "
                  f"{v['python_min_us']:6.1f}; fastest epoch {v['fastest_epoch_us']:.1f} us, Python in it "
                  f"{v['fastest_epoch_python_us']:.1f}")
        elif isinstance(v, dict):
            print(f"{k}: " + ", ".join(f"{n} {p['min_us']:.1f} / {p['median_us']:.1f}" for n, p in v.items()
                                        if isinstance(p, dict)) + " us (min / median)")
    print(f"load average {rec['load_average']:.1f} before, {rec['load_average_after']:.1f} after")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(rec, fh, indent=1)
    return 0


def fresh_process(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def fresh_summary(runs: list, stage: str) -> dict:
    wall = [r[stage]["wall_s"] for r in runs]
    cpu = [r[stage]["cpu_s"] for r in runs]
    return {"median_s": float(np.median(wall)), "min_s": float(min(wall)), "cpu_median_s": float(np.median(cpu)),
            "cpu_min_s": float(min(cpu)), "repeats": len(runs)}


def median_time(f, repeats: int, warmup: int = 1) -> dict:
    for _ in range(warmup):
        f()
    ts = []
    c0 = time.process_time()
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / repeats
    return {"median_s": float(np.median(ts)), "min_s": float(min(ts)), "cpu_s": cpu, "repeats": repeats}


def make_qnn():
    @pq.qnode(wires=4)
    def qnn(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(4))
        pq.StronglyEntanglingLayers(weights, wires=range(4))
        return [pq.expval(pq.Z(i)) for i in range(4)]

    return qnn


def w1_data():
    import workloads as wl

    return wl.w1_inputs(), wl.w1_weights()


def profile(f, n: int, label: str) -> str:
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        f()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(12)
    return f"--- {label} ({n} calls), by own time ---\n" + s.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="engine threads (default: all)")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--fresh-repeats", type=int, default=5, help="fresh interpreters per fresh-process entry")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "overhead.json"))
    ap.add_argument("--epochs-only", type=int, default=0, metavar="N",
                    help="only the demo epoch's split and the fused step's pieces, N epochs each, 1 and 2 threads")
    ap.add_argument("--w1-only", type=int, default=0, metavar="N",
                    help="only W1 from Python against the engine's call alone, N repeats, 1 and 2 threads")
    a = ap.parse_args(argv)
    if a.w1_only:
        return w1_only(a)
    if a.epochs_only:
        return epochs_only(a)
    if a.threads:
        pq.set_num_threads(a.threads)
    X, W = w1_data()
    rec: dict = {"threads": pq.get_num_threads(), "load_average": os.getloadavg()[0]}

    # --- warm one-row call and the layers below it ---
    qnn = make_qnn()
    x1 = X[0]
    qnn(x1, W)
    cq = qnn.compiled_for(x1, W)
    w_flat = cq.pack([W])
    x_row = np.ascontiguousarray(X[:1])
    ex = cq.executor()
    sim = ex._sim
    rec["warm_call_1row"] = median_time(lambda: qnn(x1, W), a.repeats)
    # The same call by keyword: the general path (binding, checks, packing) that the fast call skips.
    rec["warm_call_1row_general"] = median_time(lambda: qnn(inputs=x1, weights=W), a.repeats)
    rec["compiled_expval_1row"] = median_time(lambda: cq.expval(w_flat, x_row), a.repeats)
    rec["engine_expval_1row"] = median_time(lambda: sim.expval(w_flat, x_row), a.repeats)

    # --- first call of a new qnode (tracing + compile + first call) ---
    firsts = []
    for _ in range(max(5, a.repeats // 20)):
        t0 = time.perf_counter()
        f = make_qnn()
        f(X, W)
        firsts.append(time.perf_counter() - t0)
    rec["first_call"] = {"median_s": float(np.median(firsts)), "min_s": float(min(firsts)), "repeats": len(firsts)}
    # The first qnode of a fresh interpreter (after import pyqml): also the engine's first call (thread
    # team, first-touch pages), in a subprocess.
    fresh = [fresh_process(FIRST_CALL_CODE) for _ in range(a.fresh_repeats)]
    rec["first_call_fresh_process"] = fresh_summary(fresh, "call")
    rec["import_pyqml_fresh_process"] = fresh_summary(fresh, "import")

    # --- W1 with its floor ---
    flops = ex.flops()
    rows = X.shape[0]
    peak1 = _core.fma_peak(1, 0.05)
    peak = _core.fma_peak(0, 0.05)
    rec["fma_peak"] = {"gflops_1_thread": peak1["gflops"], "gflops": peak["gflops"], "threads": peak["threads"],
                       "isa": peak["isa"], "gflops_cpu_1_thread": peak1["gflops_cpu"], "gflops_cpu": peak["gflops_cpu"]}
    for name, call, per_row in (("w1_values_150", lambda: qnn(X, W), flops["values"]),
                                ("w1_values_and_jacobian_150", lambda: qnn.jacobian(X, W), flops["jacobian"]),
                                ("w1_engine_jacobian_150", lambda: sim.jacobian(w_flat, X), flops["jacobian"]),
                                ("w1_engine_vjp_150", lambda: sim.vjp(w_flat, X, np.ones((rows, 4))),
                                 flops["vjp"])):
        r = median_time(call, max(20, a.repeats // 4))
        r["flops"] = per_row * rows
        r["gflops"] = r["flops"] / r["median_s"] / 1e9
        r["gflops_at_min"] = r["flops"] / r["min_s"] / 1e9
        r["gflops_cpu"] = r["flops"] / r["cpu_s"] / 1e9  # per second of CPU time (all threads)
        r["cpu_fraction_of_peak"] = r["gflops_cpu"] / peak1["gflops_cpu"]
        r["peak_fraction"] = r["gflops"] / peak["gflops"]
        rec[name] = r

    # --- the demo epoch and 100-epoch training ---
    from pyqml.__main__ import build_iris_model, iris_split
    from pyqml.qml.datasets import load_iris, standardize
    from pyqml.qml.optimizers import AdamOptimizer

    Xi, yi = load_iris()
    Xi, _, _ = standardize(Xi)
    model = build_iris_model(2)
    opt = AdamOptimizer(0.05)
    rec["epoch_150"] = median_time(lambda: model.train_step(Xi, yi, opt), max(20, a.repeats // 4))
    Xtr, _, ytr, _ = iris_split(seed=0)

    def train():
        m = build_iris_model(2, 0)
        m.fit(Xtr, ytr, epochs=100, optimizer=AdamOptimizer(0.1))

    rec["training_100_epochs"] = median_time(train, 5, warmup=1)
    # The same in a fresh interpreter: model construction (the qnode's tracing and compiling, the engine's
    # first call) and 100 epochs, after `import pyqml` and the data.
    fresh = [fresh_process(TRAINING_CODE) for _ in range(a.fresh_repeats)]
    rec["training_100_epochs_fresh_process"] = fresh_summary(fresh, "train")

    # The epoch's split: the engine's two calls (values, VJP) timed inside each epoch, against the whole step;
    # per epoch, Python = step - engine (wall and CPU), medians and the fastest epoch's. Of the step through
    # the layers' calls where the model has the fused step (one engine call: nothing to split).
    if hasattr(model, "fused_step"):
        model = build_iris_model(2)
        model.fused_step = False
        opt = AdamOptimizer(0.05)
        model.train_step(Xi, yi, opt)
    layer = model.net.layers[0]
    ex_layer = layer.compiled(Xi.shape[1]).executor()
    engine = {"cpu": 0.0, "wall": 0.0}

    def timed(f):
        def g(*args, **kwargs):
            c0, t0 = time.process_time(), time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                engine["cpu"] += time.process_time() - c0
                engine["wall"] += time.perf_counter() - t0
        return g

    wrapped = ("expval", "vjp") + (("forward",) if hasattr(ex_layer, "forward") else ())
    for name in wrapped:
        setattr(ex_layer, name, timed(getattr(ex_layer, name)))
    per = []
    try:
        for _ in range(max(20, a.repeats // 4)):
            engine["cpu"] = engine["wall"] = 0.0
            c0, t0 = time.process_time(), time.perf_counter()
            model.train_step(Xi, yi, opt)
            per.append((time.perf_counter() - t0, time.process_time() - c0, engine["wall"], engine["cpu"]))
    finally:
        for name in wrapped:
            delattr(ex_layer, name)  # the class's methods again
    per = np.array(per)
    fastest = per[np.argmin(per[:, 0])]
    rec["epoch_150_split"] = {
        "epoch_median_s": float(np.median(per[:, 0])), "engine_median_s": float(np.median(per[:, 2])),
        "python_median_s": float(np.median(per[:, 0] - per[:, 2])),
        "epoch_cpu_median_s": float(np.median(per[:, 1])), "engine_cpu_median_s": float(np.median(per[:, 3])),
        "python_cpu_median_s": float(np.median(per[:, 1] - per[:, 3])),
        "fastest_epoch_s": float(fastest[0]), "fastest_epoch_engine_s": float(fastest[2]),
        "fastest_epoch_python_s": float(fastest[0] - fastest[2]), "repeats": len(per)}

    # The step's pieces on one engine thread (the Python around the engine does not use threads).
    threads = pq.get_num_threads()
    pq.set_num_threads(1)
    try:
        pieces = epoch_pieces(build_iris_model(2), Xi, yi, AdamOptimizer(0.05), max(50, a.repeats))
    finally:
        pq.set_num_threads(threads)
    if pieces is not None:
        rec["epoch_150_pieces"] = pieces
    stages = [fresh_process(STAGES_CODE) for _ in range(a.fresh_repeats)]
    rec["fresh_process_stages"] = {k: fresh_summary(stages, k) for k in ("construct", "first_step", "next_99_steps")}

    print(f"{'':28s} {'median':>10s} {'min':>10s} {'cpu/call':>10s}")
    for k, v in rec.items():
        if isinstance(v, dict) and "median_s" in v:
            extra = ""
            if "gflops" in v:
                extra = (f"  {v['flops'] / 1e6:.2f} Mflop: {v['gflops']:.2f} GFLOP/s at the median, "
                         f"{v['gflops_at_min']:.2f} at the min, {v['gflops_cpu']:.2f} per CPU second "
                         f"({100 * v['cpu_fraction_of_peak']:.1f}% of one core's FMA peak per CPU second)")
            cpu = f"{v['cpu_s'] * 1e6:10.1f}" if "cpu_s" in v else f"{'':10s}"
            print(f"{k:28s} {v['median_s'] * 1e6:10.1f} {v['min_s'] * 1e6:10.1f} {cpu} us{extra}")
    sp = rec["epoch_150_split"]
    print(f"epoch split (engine calls timed inside each epoch): median epoch {1e6 * sp['epoch_median_s']:.1f} us = "
          f"engine {1e6 * sp['engine_median_s']:.1f} + Python {1e6 * sp['python_median_s']:.1f}; CPU "
          f"{1e6 * sp['epoch_cpu_median_s']:.1f} = {1e6 * sp['engine_cpu_median_s']:.1f} + "
          f"{1e6 * sp['python_cpu_median_s']:.1f}; fastest epoch {1e6 * sp['fastest_epoch_s']:.1f} = "
          f"{1e6 * sp['fastest_epoch_engine_s']:.1f} + {1e6 * sp['fastest_epoch_python_s']:.1f} us")
    if pieces is not None:
        print("epoch pieces, one engine thread (fastest / median, us): " + ", ".join(
            f"{k} {1e6 * v['min_s']:.1f} / {1e6 * v['median_s']:.1f}" for k, v in pieces.items() if k != "repeats"))
    print("fresh process, CPU median (ms): " + ", ".join(
        f"{k} {1e3 * v['cpu_median_s']:.2f}" for k, v in rec["fresh_process_stages"].items()))
    for k in ("import_pyqml_fresh_process", "first_call_fresh_process", "training_100_epochs_fresh_process"):
        v = rec[k]
        print(f"{k:34s} wall median {v['median_s'] * 1e3:8.2f} ms, min {v['min_s'] * 1e3:8.2f} ms; CPU median "
              f"{v['cpu_median_s'] * 1e3:8.2f} ms, min {v['cpu_min_s'] * 1e3:8.2f} ms ({v['repeats']} processes)")
    print(f"FMA peak: {peak1['gflops']:.1f} GFLOP/s on 1 thread, {peak['gflops']:.1f} on {peak['threads']} "
          f"({peak['isa']}) by wall clock; {peak1['gflops_cpu']:.1f} and {peak['gflops_cpu']:.1f} per CPU second; "
          f"load average {rec['load_average']:.1f}")
    if a.profile:
        print(profile(lambda: qnn(x1, W), 2000, "warm one-row call"))
        print(profile(lambda: make_qnn()(X, W), 20, "first call of a new qnode"))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(rec, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
