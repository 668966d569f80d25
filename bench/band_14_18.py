"""W2 (StronglyEntanglingLayers L=4, H = sum_i Z_i) in the 12-18-wire band: pyqml against
lightning.qubit (adjoint) and qulacs, in one sitting, at 1 and 2 threads, (the memory
bandwidth of the gate kernels against a copy of a state too big for the caches is
``pyqml-bench kernels --n 24``, the C++ bench).

    python bench/band_14_18.py                       # n = 12..18, threads 1 and 2, peers if installed
    python bench/band_14_18.py --sizes 14,18 --threads 2 --no-peers
    python bench/band_14_18.py --precision complex128,complex64   # pyqml rows of both precisions

Each thread count runs in its own child process with OMP_NUM_THREADS set before any OpenMP runtime
starts (lightning.qubit and qulacs read it there; pyqml gets pq.set_num_threads as well). Every
measurement takes one untimed warm-up call and reports the median of the timed repeats.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def _timeit(f, repeats=7, budget_s=4.0):
    """Warm-up, then timed calls: (median wall seconds, min wall seconds, min CPU seconds of this process).
    On a machine shared with other jobs the CPU time of a one-thread run is the steadier figure."""
    f()
    ts, cs = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
        if sum(ts) > budget_s:
            break
    return statistics.median(ts), min(ts), min(cs)


PYQML_C64 = "pyqml-complex64"


def _worker(sizes, threads, peers, pyqml_path=None, tiles=None, fusion=None, split=None,
            precisions=("complex128",)):
    if pyqml_path:
        # Another build of pyqml (e.g. the main branch's) instead of the installed one: drop the editable
        # install's import redirect and put that copy first.
        sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("_editable")]
        sys.path.insert(0, pyqml_path)
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(HERE, "peers"))
    import workloads as wl
    from tensornet_scaling import to_pyqml

    import pyqml as pq

    pq.set_num_threads(threads)
    print(f"pyqml from {os.path.dirname(pq.__file__)}", file=sys.stderr)
    mods = {}
    if peers:
        for name, mod in (("lightning.qubit", "lightning"), ("qulacs", "qulacs_peer")):
            try:
                mods[name] = __import__(mod)
            except ImportError as e:
                print(f"peer {name} missing: {e}", file=sys.stderr)
    recs = []
    for n in sizes:
        circ = wl.w2_circuit(n)
        c, obs, theta = to_pyqml(circ)
        ex = c.executor([obs], "statevector")
        v = float(ex.expval(theta)[0, 0])
        cases = [("pyqml", "value", lambda ex=ex, t=theta: ex.expval(t)),
                 ("pyqml", "value_and_grad", lambda ex=ex, t=theta: ex.jacobian(t))]
        if "complex128" not in precisions:
            cases = []
        if "complex64" in precisions:
            ex64 = c.executor([obs], "statevector", precision="complex64")
            v64 = float(ex64.expval(theta)[0, 0])
            if abs(v64 - v) > 1e-4 * n:
                print(f"warning: complex64 value {v64} differs from complex128 {v}", file=sys.stderr)
            cases += [(PYQML_C64, "value", lambda ex=ex64, t=theta: ex.expval(t)),
                      (PYQML_C64, "value_and_grad", lambda ex=ex64, t=theta: ex.jacobian(t))]
        if tiles is not None and hasattr(pq._core, "_set_sv_tiles"):
            # the same build with its cache tiles switched the other way, same process
            def switched(f, on):
                def g():
                    was = pq._core._sv_tiles()
                    pq._core._set_sv_tiles(on)
                    try:
                        return f()
                    finally:
                        pq._core._set_sv_tiles(was)
                return g
            cases = [("pyqml tiled" if on else "pyqml per-gate", func, switched(f, on))
                     for on in (False, True) for _, func, f in cases[:2]]
        if fusion is not None and hasattr(pq._core, "_set_sv_fusion"):
            # the same build with its fused blocks on and off, same process, interleaved call by call
            def fswitched(f, on):
                def g():
                    was = pq._core._sv_fusion()
                    pq._core._set_sv_fusion(on)
                    try:
                        return f()
                    finally:
                        pq._core._set_sv_fusion(was)
                return g
            cases = [("pyqml fused" if on else "pyqml unfused", func, fswitched(f, on))
                     for _, func, f in cases[:2] for on in (False, True)]
        if split is not None and hasattr(pq._core, "_set_sv_sweep_region"):
            # how one row's amplitudes go over the threads (fused programs): not at all (the row on one
            # thread), split with one parallel region per sweep, split with one region per pass
            def sswitched(f, min_wires, region):
                def g():
                    was = pq._core._sv_fused_parallel_min_wires(), pq._core._sv_sweep_region()
                    pq._core._set_sv_fused_parallel_min_wires(min_wires)
                    pq._core._set_sv_sweep_region(region)
                    try:
                        return f()
                    finally:
                        pq._core._set_sv_fused_parallel_min_wires(was[0])
                        pq._core._set_sv_sweep_region(was[1])
                return g
            modes = (("pyqml row on one thread", 41, True), ("pyqml split, one region", 1, True),
                     ("pyqml split, region per pass", 1, False))
            cases = [(name, func, sswitched(f, m, r)) for _, func, f in cases[:2] for name, m, r in modes]
        for name, m in mods.items():
            cases.append((name, "value", lambda m=m, n=n: m.w2_value(n)))
            cases.append((name, "value_and_grad", lambda m=m, n=n: m.w2_value_and_grad(n)))
        for sim, func, f in cases:
            t, tmin, cpu = _timeit(f)
            recs.append({"simulator": sim, "n": n, "func": func, "threads": threads, "median_s": t, "min_s": tmin,
                         "cpu_s": cpu})
            print(f"threads={threads} n={n:2d} {sim:16s} {func:15s} wall {t * 1e3:9.3f} ms (min {tmin * 1e3:8.3f})"
                  f"  cpu {cpu * 1e3:9.3f} ms", file=sys.stderr, flush=True)
        for name, m in mods.items():  # same value as pyqml (a wrong peer setting would show here)
            pv = float(m.w2_value(n))
            if abs(pv - v) > 1e-8:
                print(f"warning: {name} value {pv} differs from pyqml {v}", file=sys.stderr)
    return recs


def _bandwidth(n=24, reps=2):
    """GB/s (one read + one write of the state per pass) of the per-gate kernels on a 2^n-amplitude
    complex128 state, from CPU time at one thread, next to numpy's copy of the same state. Each circuit
    is one kernel applied on many bits (a 1-qubit RY on every wire: each its own pass; CRX, IsingXX and
    CNOT on wire pairs (i, i + n/2); RY, RX and CNOT on each pair (i, i + n/2), one fused 4x4 pass per pair);
    the empty circuit's time (state preparation and <Z_0>) is subtracted."""
    import numpy as np

    import pyqml as pq
    from pyqml import _core

    pq.set_num_threads(1)
    _core._set_sv_tiles(False)
    a = np.ones(2**n, dtype=complex)
    b = np.empty_like(a)
    cs = []
    for _ in range(5):
        c0 = time.process_time()
        np.copyto(b, a)
        cs.append(time.process_time() - c0)
    out = {"n": n, "state_mib": a.nbytes / 2**20, "copy": 2 * a.nbytes / min(cs) / 1e9}
    del a, b
    h = n // 2
    kernels = {"1-qubit dense (RY, every bit)": [(pq.RY, (0.3,), [i]) for i in range(n)],
               "2-qubit controlled 2x2 (CRX)": [(pq.CRX, (0.3,), [i, i + h]) for i in range(h)],
               "2-qubit dense 4x4 (IsingXX)": [(pq.IsingXX, (0.3,), [i, i + h]) for i in range(h)],
               "2-qubit CNOT (swaps)": [(pq.CNOT, (), [i, i + h]) for i in range(h)],
               # one fused 4x4 block per pair (RY, RX, CNOT): h passes
               "2-qubit fused block (RY, RX, CNOT)": [g for i in range(h) for g in
                                                      ((pq.RY, (0.3,), [i]), (pq.RX, (0.2,), [i + h]),
                                                       (pq.CNOT, (), [i, i + h]))]}
    passes = {"2-qubit fused block (RY, RX, CNOT)": h}

    def cpu_of(gates):
        c = pq.Circuit(n)
        with c:
            for g, args, wires in gates:
                g(*args, wires=wires)
        ex = c.executor([pq.Z(0)], "statevector")
        return _timeit(lambda: ex.expval(np.zeros(0)), repeats=reps, budget_s=60)[2]

    base = cpu_of([])
    for label, gates in kernels.items():
        per_pass = max(cpu_of(gates) - base, 1e-9) / passes.get(label, len(gates))
        out[label] = 2 * 16 * 2**n / per_pass / 1e9
    _core._set_sv_tiles(True)
    return out


def _ms(s):
    return f"{s * 1e3:.3g} ms" if s else "-"


def _ratio(s, p):
    return f"{s / p:.2f}x" if s and p else "-"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="12,13,14,15,16,17,18")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--bandwidth", action="store_true",
                    help="only the kernel bandwidth at n = 24 against a copy of the state (one thread)")
    ap.add_argument("--tiles", action="store_true",
                    help="time pyqml twice, per-gate passes and cache tiles (14+ wires), same build and process")
    ap.add_argument("--fusion", action="store_true",
                    help="time pyqml twice, fused blocks on and off (10+ wires), same build and process")
    ap.add_argument("--split", action="store_true",
                    help="time pyqml three times: each row on one thread, amplitudes split with one parallel "
                         "region per sweep, split with one region per pass (fused programs)")
    ap.add_argument("--precision", default="complex128",
                    help="pyqml's precisions, comma-separated (complex128, complex64): one row set each")
    ap.add_argument("--pyqml-path", default=None,
                    help="import pyqml from this folder (a copy of another build) instead of the installed one")
    ap.add_argument("--out", default=os.path.join(RESULTS, "band_14_18.json"))
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        if spec.get("bandwidth"):
            res = _bandwidth()
        else:
            res = _worker(spec["sizes"], spec["threads"], spec["peers"], spec.get("pyqml_path"),
                          spec.get("tiles"), spec.get("fusion"), spec.get("split"),
                          spec.get("precisions", ["complex128"]))
        print("@@RESULT " + json.dumps(res), flush=True)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    if args.bandwidth:
        p = subprocess.run([sys.executable, __file__, "--worker", json.dumps({"bandwidth": True})],
                           env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=subprocess.PIPE, text=True, check=True)
        res = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("@@RESULT ")][-1][9:])
        print(f"kernel bandwidth, 2^{res['n']} amplitudes ({res['state_mib']:.0f} MiB), one thread, CPU time:")
        for k, v in res.items():
            if k not in ("n", "state_mib"):
                print(f"  {k:32s} {v:7.2f} GB/s")
        return 0
    records = []
    for t in threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(t))
        spec = {"sizes": sizes, "threads": t, "peers": not args.no_peers, "pyqml_path": args.pyqml_path,
                "tiles": True if args.tiles else None, "fusion": True if args.fusion else None,
                "split": True if args.split else None, "precisions": args.precision.split(",")}
        p = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                           stdout=subprocess.PIPE, text=True, check=True)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("@@RESULT ")][-1]
        records.extend(json.loads(line[len("@@RESULT "):]))
    variants = sorted({r["simulator"] for r in records if r["simulator"].startswith("pyqml ")})
    if variants:
        print("pyqml A/B, CPU ms min over repeats / wall ms median")
        print("| threads | n | quantity | " + " | ".join(variants) + " |")
        print("|---|---|---|" + "---|" * len(variants))
        rec = {(r["simulator"], r["n"], r["func"], r["threads"]): r for r in records}
        for t in threads:
            for n in sizes:
                for func in ("value", "value_and_grad"):
                    cells = []
                    for v in variants:
                        r = rec.get((v, n, func, t))
                        cells.append(f"{r['cpu_s'] * 1e3:.3g} / {r['median_s'] * 1e3:.3g}" if r else "-")
                    print(f"| {t} | {n} | {func} | " + " | ".join(cells) + " |")
    if any(r["simulator"] == PYQML_C64 for r in records):
        print("complex64: CPU seconds of the process, min over repeats")
        print("| threads | n | quantity | pyqml complex64 | pyqml complex128 | complex128 / complex64 | "
              "lightning.qubit | lightning / complex64 |")
        print("|---|---|---|---|---|---|---|---|")
        key = {(r["simulator"], r["n"], r["func"], r["threads"]): r["cpu_s"] for r in records}
        for t in threads:
            for n in sizes:
                for func in ("value", "value_and_grad"):
                    p = key.get((PYQML_C64, n, func, t))
                    d = key.get(("pyqml", n, func, t))
                    lq = key.get(("lightning.qubit", n, func, t))
                    print(f"| {t} | {n} | {func} | {_ms(p)} | {_ms(d)} | {_ratio(d, p)} | {_ms(lq)} | "
                          f"{_ratio(lq, p)} |")
    if any(r["simulator"] == "pyqml" for r in records):
        print("CPU seconds of the process, min over repeats (wall-clock medians in the JSON)")
        print("| threads | n | quantity | pyqml | lightning.qubit | qulacs | lightning / pyqml | qulacs / pyqml |")
        print("|---|---|---|---|---|---|---|---|")
        key = {(r["simulator"], r["n"], r["func"], r["threads"]): r["cpu_s"] for r in records}
        for t in threads:
            for n in sizes:
                for func in ("value", "value_and_grad"):
                    p = key.get(("pyqml", n, func, t))
                    lq = key.get(("lightning.qubit", n, func, t))
                    q = key.get(("qulacs", n, func, t))
                    print(f"| {t} | {n} | {func} | {_ms(p)} | {_ms(lq)} | {_ms(q)} | {_ratio(lq, p)} | "
                          f"{_ratio(q, p)} |")
    if args.out:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"records": records,
                       "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
