"""W2 (StronglyEntanglingLayers L=4, H = sum_i Z_i) in the 12-18-wire band: pyqml against
lightning.qubit (adjoint) and qulacs, in one sitting, at 1 and 2 threads, (the memory
bandwidth of the gate kernels against a copy of a state too big for the caches is
``pyqml-bench kernels --n 24``, the C++ bench).

    python bench/band_14_18.py                       # n = 12..18, threads 1 and 2, peers if installed
    python bench/band_14_18.py --sizes 14,18 --threads 2 --no-peers

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
    f()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
        if sum(ts) > budget_s:
            break
    return statistics.median(ts)


def _worker(sizes, threads, peers, pyqml_path=None):
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
        cases = [("pyqml", "value", lambda: ex.expval(theta)),
                 ("pyqml", "value_and_grad", lambda: ex.jacobian(theta))]
        for name, m in mods.items():
            cases.append((name, "value", lambda m=m, n=n: m.w2_value(n)))
            cases.append((name, "value_and_grad", lambda m=m, n=n: m.w2_value_and_grad(n)))
        for sim, func, f in cases:
            t = _timeit(f)
            recs.append({"simulator": sim, "n": n, "func": func, "threads": threads, "median_s": t})
            print(f"threads={threads} n={n:2d} {sim:16s} {func:15s} {t * 1e3:9.3f} ms", file=sys.stderr,
                  flush=True)
        for name, m in mods.items():  # same value as pyqml (a wrong peer setting would show here)
            pv = float(m.w2_value(n))
            if abs(pv - v) > 1e-8:
                print(f"warning: {name} value {pv} differs from pyqml {v}", file=sys.stderr)
    return recs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="12,13,14,15,16,17,18")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--pyqml-path", default=None,
                    help="import pyqml from this folder (a copy of another build) instead of the installed one")
    ap.add_argument("--out", default=os.path.join(RESULTS, "band_14_18.json"))
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        res = _worker(spec["sizes"], spec["threads"], spec["peers"], spec.get("pyqml_path"))
        print("@@RESULT " + json.dumps(res), flush=True)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    records = []
    for t in threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(t))
        spec = {"sizes": sizes, "threads": t, "peers": not args.no_peers, "pyqml_path": args.pyqml_path}
        p = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                           stdout=subprocess.PIPE, text=True, check=True)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("@@RESULT ")][-1]
        records.extend(json.loads(line[len("@@RESULT "):]))
    if records:
        print("| threads | n | quantity | pyqml | lightning.qubit | qulacs | lightning / pyqml | qulacs / pyqml |")
        print("|---|---|---|---|---|---|---|---|")
        key = {(r["simulator"], r["n"], r["func"], r["threads"]): r["median_s"] for r in records}
        for t in threads:
            for n in sizes:
                for func in ("value", "value_and_grad"):
                    p = key.get(("pyqml", n, func, t))
                    lq = key.get(("lightning.qubit", n, func, t))
                    q = key.get(("qulacs", n, func, t))
                    f = (lambda s: f"{s * 1e3:.3g} ms" if s else "-")
                    r = (lambda s: f"{s / p:.2f}x" if s and p else "-")
                    print(f"| {t} | {n} | {func} | {f(p)} | {f(lq)} | {f(q)} | {r(lq)} | {r(q)} |")
    if args.out:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"records": records,
                       "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
