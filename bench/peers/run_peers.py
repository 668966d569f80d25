"""Run the peer simulators on the benchmark workloads and write JSON records.

Usage (from the repository root, with the peers' virtualenv)::

    /work/venv-peers/bin/python bench/peers/run_peers.py --workload w1 --out results.json
    /work/venv-peers/bin/python bench/peers/run_peers.py --workload all --out peers.json

Every record: ``simulator``, ``setting``, ``workload``, ``size``, ``func``,
``median_s``, ``min_s``, ``max_s``, ``repeats``, ``warmup_s``, ``value`` (and, where a
reference exists, ``max_abs_err`` against it), ``status`` (``ok``, ``timeout``,
``missing`` when the peer is not installed, ``error``, ``unsupported``).

Each peer runs in a child process (see ``timing.py``) with a per-measurement timeout;
sizes that are known to exhaust memory for a peer (dense backprop) are not in its
case list.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# peer module -> (simulator name, setting)
PEERS = {
    "pennylane_default": ("pennylane default.qubit", "autograd backprop"),
    "pennylane_jax": ("pennylane default.qubit", "jax jit backprop"),
    "lightning": ("pennylane lightning.qubit", "adjoint"),
    "qulacs_peer": ("qulacs", "statevector + backprop"),
    "qiskit_aer_peer": ("qiskit-aer", "statevector / mps"),
    "quimb_peer": ("quimb", "local_expectation greedy"),
    "tensorcircuit_peer": ("tensorcircuit-ng", "jax jit"),
}

W2_SIZES = [12, 14, 16, 18, 20, 22]
# largest W2 n per (peer, func): dense backprop keeps every intermediate state
W2_CAP = {
    ("pennylane_default", "w2_value_and_grad"): 18,
    ("pennylane_jax", "w2_value_and_grad"): 18,
    ("tensorcircuit_peer", "w2_value_and_grad"): 14,
}


def cases_for(workload, big=False):
    """List of (peer, func, args, size label, options) for one workload."""
    out = []
    if workload == "w1":
        for p in ("pennylane_default", "pennylane_jax", "lightning", "qulacs_peer",
                  "qiskit_aer_peer", "tensorcircuit_peer"):
            out.append((p, "w1_values", ["$w1_data"], "150 rows", {}))
            if p != "qiskit_aer_peer":
                out.append((p, "w1_values_and_jacobian", ["$w1_data"], "150 rows",
                            {"repeats": 3}))
    elif workload == "w2":
        sizes = W2_SIZES + ([24] if big else [])
        for p, f in (("lightning", "w2_value_and_grad"), ("qulacs_peer", "w2_value_and_grad"),
                     ("pennylane_default", "w2_value_and_grad"),
                     ("pennylane_jax", "w2_value_and_grad"),
                     ("tensorcircuit_peer", "w2_value_and_grad"),
                     ("qiskit_aer_peer", "w2_value"), ("qulacs_peer", "w2_value"),
                     ("lightning", "w2_value")):
            cap = W2_CAP.get((p, f), 99)
            for n in sizes:
                if n <= cap:
                    out.append((p, f, [n], f"n={n}", {"repeats": 3 if n >= 20 else 5}))
    elif workload == "w3":
        for L in (2, 4):
            for n in (100, 1000):
                out.append(("quimb_peer", "w3_term", [n, L], f"n={n} L={L}", {}))
                out.append(("qiskit_aer_peer", "w3_term_mps", [n, L], f"n={n} L={L}", {}))
                out.append(("tensorcircuit_peer", "w3_term", [n, L], f"n={n} L={L}", {}))
            for n in (100, 1000):
                out.append(("quimb_peer", "w3_energy", [n, L], f"n={n} L={L}",
                            {"repeats": 3, "timeout_s": 120}))
                out.append(("qiskit_aer_peer", "w3_energy_mps", [n, L], f"n={n} L={L}", {}))
            # small-n full energy with dense statevector peers
            for n in (16, 20):
                for p in ("lightning", "qulacs_peer", "qiskit_aer_peer", "pennylane_default",
                          "pennylane_jax", "tensorcircuit_peer"):
                    out.append((p, "w3_energy", [n, L], f"n={n} L={L}", {}))
                for p in ("lightning", "qulacs_peer", "pennylane_jax", "pennylane_default",
                          "tensorcircuit_peer"):
                    if n == 20 and p in ("pennylane_default", "pennylane_jax",
                                         "tensorcircuit_peer"):
                        continue
                    out.append((p, "w3_energy_and_grad", [n, L], f"n={n} L={L}", {}))
    elif workload == "w4":
        for (lx, ly) in ((6, 6), (10, 10)):
            out.append(("quimb_peer", "w4_energy", [lx, ly, 2], f"{lx}x{ly} L=2",
                        {"repeats": 3, "timeout_s": 150}))
            out.append(("qiskit_aer_peer", "w4_energy_mps", [lx, ly, 2], f"{lx}x{ly} L=2",
                        {"repeats": 3}))
    elif workload == "w5":
        for p_ in (1, 2):
            out.append(("quimb_peer", "w5_energy", [100, p_], f"n=100 p={p_}",
                        {"repeats": 3, "timeout_s": 150}))
            out.append(("qiskit_aer_peer", "w5_energy_mps", [100, p_], f"n=100 p={p_}",
                        {"repeats": 3}))
    else:
        raise ValueError(workload)
    return out


# ------------------------------------------------------------- result summaries


_REF_CACHE = {}


def _ref(name):
    if name not in _REF_CACHE:
        from _common import load_reference

        _REF_CACHE[name] = load_reference(name)
    return _REF_CACHE[name]


def _maxerr(a, b):
    import numpy as np

    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))


def summarize(case, res):
    """Numbers kept in a record (runs in the worker process)."""
    import numpy as np

    func, args = case["func"], case.get("args", [])
    out = {}
    if func == "w1_values":
        v = np.asarray(res)
        out["value"] = {"sum": float(v.sum()), "row0": v[0].tolist()}
        ref = _ref("w1_seed_qnn.json")
        if ref:
            out["max_abs_err"] = _maxerr(v, ref["values"])
    elif func == "w1_values_and_jacobian":
        v, j = (np.asarray(x) for x in res)
        out["value"] = {"sum": float(v.sum()), "jac_sum": float(j.sum())}
        ref = _ref("w1_seed_qnn.json")
        if ref:
            out["max_abs_err"] = max(_maxerr(v, ref["values"]), _maxerr(j[0], ref["jac_row0"]))
    elif isinstance(res, tuple):
        val, grad = res
        out["value"] = float(val)
        out["grad_norm"] = float(np.linalg.norm(np.asarray(grad)))
        if func.startswith("w2"):
            ref = (_ref("w2_statevector.json") or {}).get(str(args[0]))
            if ref:
                out["max_abs_err"] = max(abs(float(val) - ref["value"]),
                                         _maxerr(grad, ref["grad"]))
    else:
        out["value"] = float(res)
        if func.startswith("w2"):
            ref = (_ref("w2_statevector.json") or {}).get(str(args[0]))
            if ref:
                out["max_abs_err"] = abs(float(res) - ref["value"])
    return out


# ---------------------------------------------------------------------------- main


def run(workloads, peers=None, timeout_s=60.0, big=False, log=print):
    from timing import run_cases

    records = []
    for wl in workloads:
        by_peer = {}
        for (p, f, args, size, opts) in cases_for(wl, big=big):
            if peers and p not in peers:
                continue
            sim, setting = PEERS[p]
            rec = {"simulator": sim, "setting": setting, "peer_module": p, "workload": wl,
                   "size": size, "func": f}
            case = {"func": f, "args": args, "record": rec, "chain": f"{f}:{args[1:] if len(args) > 1 else ''}",
                    "warmup": 1, "repeats": opts.get("repeats", 5),
                    "budget_s": opts.get("budget_s", 10.0),
                    "timeout_s": opts.get("timeout_s", timeout_s)}
            by_peer.setdefault(p, []).append(case)
        for p, cases in by_peer.items():
            records += run_cases(p, cases, timeout_s=timeout_s,
                                 summarizer="run_peers:summarize", log=log)
    return records


def _fmt(rec):
    t = rec.get("median_s")
    val = rec.get("value")
    if isinstance(val, dict):
        val = val.get("sum")
    err = rec.get("max_abs_err")
    return (f"{rec['workload']:3s} {rec['size']:14s} {rec['peer_module']:18s} {rec['func']:24s} "
            f"{rec['status']:8s} " + (f"{t:10.4g}s" if t is not None else " " * 11)
            + (f"  value={val:.12g}" if isinstance(val, float) else "")
            + (f"  err={err:.1e}" if err is not None else ""))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="all",
                    help="w1, w2, w3, w4, w5, a comma list, or all")
    ap.add_argument("--peers", default="", help="comma list of peer modules (default all)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per measurement")
    ap.add_argument("--big", action="store_true", help="add W2 n=24")
    ap.add_argument("--out", default="peer_results.json")
    a = ap.parse_args(argv)
    wls = ["w1", "w2", "w3", "w4", "w5"] if a.workload == "all" else a.workload.split(",")
    peers = [p for p in a.peers.split(",") if p] or None
    t0 = time.time()
    meta = {"python": sys.version.split()[0], "cpu_count": os.cpu_count(),
            "workloads": wls, "complete": False}
    done = []

    def write(recs):
        meta["wall_s"] = time.time() - t0
        with open(a.out, "w") as f:
            json.dump({"meta": meta, "records": recs}, f, indent=1, default=float)

    def log(rec):  # keep the file current so an interrupted run still leaves data
        print(_fmt(rec), flush=True)
        done.append(rec)
        write(done)

    recs = run(wls, peers=peers, timeout_s=a.timeout, big=a.big, log=log)
    meta["complete"] = True
    write(recs)
    print(f"wrote {len(recs)} records to {a.out} in {meta['wall_s']:.0f}s")


if __name__ == "__main__":
    main()
