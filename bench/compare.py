"""Side-by-side benchmark: pyqml and every installed peer on the same workloads, in one run.

    python bench/compare.py                      # all workloads, peers from $PYQML_PEER_PYTHON
    python bench/compare.py --workloads w1,w2 --quick
    python bench/compare.py --peer-python /path/to/peers-venv/bin/python

pyqml runs in this interpreter; the peers run in their own virtualenv (``bench/requirements-peers.txt``)
through ``bench/peers/run_peers.py``, in the same run, on the same machine. Workloads are defined once in
``bench/workloads.py``. Every measurement takes one untimed warm-up call (JIT compilation and path search
land there) and reports the median of the timed repeats.

Output: a table of medians and speed-ups (peer time / pyqml time) on stdout and in
``bench/results/compare.md``, all records in ``bench/results/compare.json``, and a log-scale plot of time
against qubit count (one line per simulator) in ``bench/results/scaling.png``. Where the limit is: every
state-vector row carries the achieved bandwidth of its gate passes next to a plain copy of a state of the
same size (a cache's bandwidth below ~20 wires) and a copy of arrays too big for any cache (memory's), both
measured here; the W1 rows carry the flops of the call (counted from the compiled program) and
the achieved GFLOP/s next to the engine's FMA peak (a register-resident loop) measured here; every
tensor-network row carries the achieved GFLOP/s (from the plan's flop
count) next to a large complex GEMM measured here.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import workloads as wl  # noqa: E402
from tensornet_scaling import to_pyqml  # noqa: E402

import pyqml as pq  # noqa: E402

RESULTS = os.path.join(HERE, "results")


# ----------------------------------------------------------------------------------------- timing
def measure(f, repeats: int, budget_s: float) -> dict:
    """Warm-up call, then up to `repeats` timed calls (fewer when one call exceeds the budget)."""
    t0 = time.perf_counter()
    value = f()
    warm = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = f()
        times.append(time.perf_counter() - t0)
        if sum(times) > budget_s:
            break
    return {"median_s": float(np.median(times)), "min_s": float(min(times)), "max_s": float(max(times)),
            "repeats": len(times), "warmup_s": warm, "value": value}


def copy_bandwidth(n: int) -> float:
    """GB/s of a plain copy of a 2^n complex128 state (read + write) at that size, measured now: both arrays
    touched first, each sample repeats the copy for at least 2 ms, best of 5 (below ~20 wires the state sits
    in a cache, so this is the cache's bandwidth, not memory's)."""
    a = np.ones(2**n, dtype=complex)
    b = np.empty_like(a)
    np.copyto(b, a)
    best = float("inf")
    for _ in range(5):
        reps = 0
        t0 = time.perf_counter()
        while True:
            np.copyto(b, a)
            reps += 1
            dt = time.perf_counter() - t0
            if dt >= 2e-3:
                break
        best = min(best, dt / reps)
    return 2 * a.nbytes / best / 1e9


def memory_bandwidth(nbytes: int = 256 << 20) -> float:
    """GB/s of a copy (read + write) of two arrays too big for any cache (256 MiB each), best of 5: the
    memory bandwidth that gate passes over a large state can reach."""
    return copy_bandwidth(int(np.log2(nbytes // 16)))


def gemm_gflops(m: int = 1024) -> float:
    """GFLOP/s of a complex128 GEMM of size m (8 m^3 real flops), measured now."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m))
    b = rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m))
    a @ b
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t0)
    return 8.0 * m**3 / min(ts) / 1e9


# ------------------------------------------------------------------------------------ pyqml cases
def w1_cases():
    x = wl.w1_inputs()
    w = wl.w1_weights()

    @pq.qnode(wires=4, method="statevector")
    def qnn(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(4))
        pq.StronglyEntanglingLayers(weights, wires=range(4))
        return [pq.expval(pq.Z(i)) for i in range(4)]

    qnn(x, w)
    flops = qnn.compiled_for(x, w).executor().flops()  # per row, counted from the compiled program
    rows = x.shape[0]
    yield "w1", "150 rows", "w1_values", lambda: qnn(x, w)[0, 0], {"flops": flops["values"] * rows}
    yield "w1", "150 rows", "w1_values_and_jacobian", lambda: qnn.jacobian(x, w)[0][0, 0], \
        {"flops": flops["jacobian"] * rows}


def fma_peak_gflops() -> float:
    """GFLOP/s of the engine's register-resident FMA loop on all its threads (wall clock, best of short
    repeats), measured now."""
    from pyqml import _core

    return float(_core.fma_peak(0, 0.05)["gflops"])


def _sv_bandwidth_fields(circ: wl.Circuit, seconds: float, grad: bool) -> dict:
    # One read + one write of the state per gate pass; the adjoint sweep passes over phi and lambda.
    passes = len(circ.ops) * (3 if grad else 1)
    gbs = 2 * 16 * 2**circ.n * passes / seconds / 1e9
    return {"gb_per_s": gbs}


def w2_cases(sizes):
    for n in sizes:
        circ = wl.w2_circuit(n)
        c, obs, theta = to_pyqml(circ)
        ex = c.executor([obs], "statevector")
        yield "w2", f"n={n}", "w2_value", lambda ex=ex, t=theta: float(ex.expval(t)[0, 0]), \
            {"sv": (circ, False)}
        yield "w2", f"n={n}", "w2_value_and_grad", lambda ex=ex, t=theta: float(ex.jacobian(t)[0][0, 0]), \
            {"sv": (circ, True)}


def _tn_cases(workload, label, circ, funcs, term_obs=None):
    c, obs, theta = to_pyqml(circ)
    method = "tensornet" if circ.n > 24 else "auto"
    if "term" in funcs and term_obs is not None:
        c2, o2, _ = to_pyqml(circ.with_observables(term_obs))
        ex_t = c2.executor([o2], method)
        yield workload, label, funcs["term"], lambda: float(ex_t.expval(theta)[0, 0]), {"tn": ex_t}
    ex = c.executor([obs], method)
    yield workload, label, funcs["energy"], lambda: float(ex.expval(theta)[0, 0]), {"tn": ex}
    yield workload, label, funcs["grad"], lambda: float(ex.jacobian(theta)[0][0, 0]), {"tn": ex, "grad": True}


def w3_cases(sizes, layers):
    f = {"term": "w3_term", "energy": "w3_energy", "grad": "w3_energy_and_grad"}
    for L in layers:
        for n in sizes:
            circ = wl.w3_circuit(n, L).with_observables(wl.chain_zz(n))
            yield from _tn_cases("w3", f"n={n} L={L}", circ, f, wl.w3_term_observable(n))


def w4_cases(grids):
    f = {"energy": "w4_energy", "grad": "w4_energy_and_grad"}
    for lx, ly, L in grids:
        yield from _tn_cases("w4", f"{lx}x{ly} L={L}", wl.w4_circuit(lx, ly, L), f)


def w5_cases(sizes, depths):
    f = {"energy": "w5_energy", "grad": "w5_energy_and_grad"}
    for n in sizes:
        for p in depths:
            yield from _tn_cases("w5", f"n={n} p={p}", wl.w5_circuit(n, p), f)


def run_pyqml(workloads, quick: bool, big: bool, timeout_s: float, log) -> list[dict]:
    gens = {
        "w1": lambda: w1_cases(),
        "w2": lambda: w2_cases([12, 16, 20] if quick else [12, 14, 16, 18, 20, 22] + ([24] if big else [])),
        "w3": lambda: w3_cases([16, 100, 1000] if quick else [16, 20, 100, 1000, 10000], [2] if quick else [2, 4]),
        "w4": lambda: w4_cases([(6, 6, 2)] if quick else [(6, 6, 2), (10, 10, 2)]),
        "w5": lambda: w5_cases([100] if quick else [100, 1000], [1] if quick else [1, 2]),
    }
    copy_cache: dict[int, float] = {}
    mem_bw: float | None = None
    gemm = None
    peak = None
    records = []
    for w in workloads:
        for workload, size, func, f, extra in gens[w]():
            rec = {"simulator": "pyqml", "setting": "", "workload": workload, "size": size, "func": func}
            try:
                r = measure(f, repeats=5, budget_s=timeout_s)
                rec.update(r, status="ok")
                if "sv" in extra:
                    circ, grad = extra["sv"]
                    rec["setting"] = "statevector, adjoint" if grad else "statevector"
                    rec.update(_sv_bandwidth_fields(circ, r["median_s"], grad))
                    if circ.n not in copy_cache:
                        copy_cache[circ.n] = copy_bandwidth(circ.n)
                    rec["copy_gb_per_s"] = copy_cache[circ.n]
                    if mem_bw is None:
                        mem_bw = memory_bandwidth()
                    rec["memory_copy_gb_per_s"] = mem_bw
                elif "tn" in extra:
                    ex = extra["tn"]
                    rec["setting"] = getattr(ex, "method", "tensornet")
                    if extra.get("grad"):
                        rec["setting"] += ", reverse mode"
                    plan = ex.plan() if hasattr(ex, "plan") else None
                    if plan is not None:
                        flops = plan.gradient_flops if extra.get("grad") else plan.flops
                        rec["gflops"] = flops / r["median_s"] / 1e9
                        rec["width"] = plan.width
                        if gemm is None:
                            gemm = gemm_gflops()
                        rec["gemm_gflops"] = gemm
                else:
                    rec["setting"] = "statevector, adjoint" if "jacobian" in func else "statevector"
                if "flops" in extra:
                    if peak is None:
                        peak = fma_peak_gflops()
                    rec["flops"] = extra["flops"]
                    rec["gflops"] = extra["flops"] / r["median_s"] / 1e9
                    rec["peak_gflops"] = peak
            except Exception as e:  # a failing case is reported, never hidden
                rec.update(status="error", error=f"{type(e).__name__}: {e}")
            records.append(rec)
            log(rec)
    return records


# ------------------------------------------------------------------------------------- peers
def run_peers(workloads, peer_python: str | None, timeout_s: float, big: bool, log) -> list[dict]:
    if not peer_python or not os.path.exists(peer_python):
        print(f"peers: no peer interpreter (looked for {peer_python!r}); every peer is reported as missing.\n"
              "       Create one with: python3 -m venv venv-peers && "
              "venv-peers/bin/pip install -r bench/requirements-peers.txt", flush=True)
        return [{"simulator": name, "setting": setting, "workload": ",".join(workloads), "size": "-",
                 "func": "-", "status": "missing"}
                for name, setting in [("pennylane", "default.qubit / lightning.qubit / jax"), ("qulacs", ""),
                                      ("qiskit-aer", ""), ("quimb", ""), ("tensorcircuit-ng", "")]]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "peers.json")
        cmd = [peer_python, os.path.join(HERE, "peers", "run_peers.py"), "--workload", ",".join(workloads),
               "--timeout", str(timeout_s), "--out", out] + (["--big"] if big else [])
        print("peers:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=False)
        if not os.path.exists(out):
            return []
        with open(out) as f:
            recs = json.load(f)["records"]
    for r in recs:
        log(r)
    return recs


# ------------------------------------------------------------------------------------- report
def _peer_func(func: str) -> str:
    return func[:-4] if func.endswith("_mps") else func


def table(pyqml_recs, peer_recs) -> str:
    peers_by_key: dict = {}
    for r in peer_recs:
        if r.get("status") != "ok":
            continue
        key = (r["workload"], r["size"], _peer_func(r["func"]))
        label = f"{r['simulator']} ({r['setting']}{', mps' if r['func'].endswith('_mps') else ''})"
        peers_by_key.setdefault(key, []).append((label, r["median_s"]))
    lines = ["| workload | size | quantity | pyqml median | where the limit is | peer | peer median | "
             "speed-up (peer / pyqml) |", "|---|---|---|---|---|---|---|---|"]
    for r in pyqml_recs:
        if r.get("status") != "ok":
            lines.append(f"| {r['workload']} | {r['size']} | {r['func']} | {r['status']} | "
                         f"{r.get('error', '')[:60]} | | | |")
            continue
        limit = ""
        if "gb_per_s" in r:
            limit = f"{r['gb_per_s']:.1f} GB/s (copy at this size {r['copy_gb_per_s']:.1f}"
            if "memory_copy_gb_per_s" in r:
                limit += f", from memory {r['memory_copy_gb_per_s']:.1f}"
            limit += ")"
        elif "peak_gflops" in r:
            limit = (f"{r['gflops']:.2f} GFLOP/s of {r['flops'] / 1e6:.2f} Mflop "
                     f"({100 * r['gflops'] / r['peak_gflops']:.1f}% of FMA peak {r['peak_gflops']:.1f})")
        elif "gflops" in r:
            limit = f"{r['gflops']:.2f} GFLOP/s (GEMM {r['gemm_gflops']:.1f}), width {r['width']}"
        peers = sorted(peers_by_key.get((r["workload"], r["size"], r["func"]), []), key=lambda p: p[1])
        t = _fmt_s(r["median_s"])
        if not peers:
            lines.append(f"| {r['workload']} | {r['size']} | {r['func']} | {t} | {limit} | - | - | - |")
        for i, (label, pt) in enumerate(peers):
            lines.append(f"| {r['workload'] if i == 0 else ''} | {r['size'] if i == 0 else ''} | "
                         f"{r['func'] if i == 0 else ''} | {t if i == 0 else ''} | {limit if i == 0 else ''} | "
                         f"{label} | {_fmt_s(pt)} | {pt / r['median_s']:.1f}x |")
    bad = [r for r in peer_recs if r.get("status") not in ("ok", None)]
    if bad:
        lines.append("")
        lines.append("Peers not measured: " + "; ".join(
            f"{r['simulator']} {r.get('func', '')} {r.get('size', '')}: {r['status']}" for r in bad))
    return "\n".join(lines)


def _fmt_s(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def plot(pyqml_recs, peer_recs, path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot: matplotlib is not installed; skipped", flush=True)
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    panels = [("w2", "w2_value_and_grad", "W2: value + gradient, StronglyEntanglingLayers L=4"),
              ("w3", "w3_energy", "W3: 1-D brickwork energy (sum of ZZ), L=2")]
    for ax, (work, func, title) in zip(axes, panels):
        series: dict = {}
        for r in list(pyqml_recs) + list(peer_recs):
            if r.get("status") != "ok" or r["workload"] != work or _peer_func(r["func"]) != func:
                continue
            if work == "w3" and not r["size"].endswith("L=2"):
                continue
            n = int(r["size"].split()[0].split("=")[1])
            setting = r.get("setting", "")
            if r["func"].endswith("_mps"):
                setting = "mps"
            elif r["simulator"] == "qiskit-aer":
                setting = "statevector"
            label = r["simulator"] + (f" ({setting})" if setting else "")
            series.setdefault(label, []).append((n, r["median_s"]))
        for label, pts in sorted(series.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label,
                    linewidth=2.5 if label.startswith("pyqml") else 1.2)
        ax.set_xscale("log" if work == "w3" else "linear")
        ax.set_yscale("log")
        ax.set_xlabel("qubits")
        ax.set_ylabel("seconds (median)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu, "cores": os.cpu_count(), "pyqml_threads": pq.get_num_threads(),
            "python": sys.version.split()[0], "numpy": np.__version__}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="pyqml against its peers, same workloads, same run")
    ap.add_argument("--workloads", default="w1,w2,w3,w4,w5")
    ap.add_argument("--peer-python", default=os.environ.get("PYQML_PEER_PYTHON",
                                                            os.path.join(os.path.dirname(HERE), "..",
                                                                         "venv-peers", "bin", "python")))
    ap.add_argument("--no-peers", action="store_true", help="time pyqml only")
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--big", action="store_true", help="add W2 n=24")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per measurement")
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--from-json", help="re-render the table and plot of an earlier run's compare.json")
    a = ap.parse_args(argv)
    if a.from_json:
        with open(a.from_json) as f:
            saved = json.load(f)
        print(table(saved["pyqml"], saved["peers"]))
        plot(saved["pyqml"], saved["peers"], os.path.join(a.out, "scaling.png"))
        return 0
    works = [w.strip() for w in a.workloads.split(",") if w.strip()]
    os.makedirs(a.out, exist_ok=True)
    info = machine()
    print(f"{info['date']}: {info['cpu']}, {info['cores']} cores, pyqml threads {info['pyqml_threads']}", flush=True)

    def log(r):
        t = r.get("median_s")
        print(f"  {r['simulator']:28s} {r['workload']:3s} {r['size']:14s} {r['func']:24s} {r.get('status', '')}"
              + (f" {_fmt_s(t)}" if t is not None else ""), flush=True)

    mine = run_pyqml(works, a.quick, a.big, a.timeout, log)
    peers = [] if a.no_peers else run_peers(works, os.path.abspath(a.peer_python), a.timeout, a.big, log)
    text = table(mine, peers)
    header = (f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores; pyqml with "
              f"{info['pyqml_threads']} OpenMP threads). Command: `python bench/compare.py "
              f"{' '.join(argv if argv is not None else sys.argv[1:])}`.\n\n")
    print("\n" + header + text)
    with open(os.path.join(a.out, "compare.md"), "w") as f:
        f.write(header + text + "\n")
    with open(os.path.join(a.out, "compare.json"), "w") as f:
        json.dump({"machine": info, "pyqml": mine, "peers": peers}, f, indent=1, default=float)
    if plot(mine, peers, os.path.join(a.out, "scaling.png")):
        print(f"plot: {os.path.join(a.out, 'scaling.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
