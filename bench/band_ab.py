"""Alternating A/B runs of one pyqml switch on W2 (StronglyEntanglingLayers L=4, H = sum_i Z_i,
bench/workloads.py), same build, same process: several rounds, each timing both settings back to back in
alternating order, so that a slow spell of a loaded machine hits both alike.

    python bench/band_ab.py --switch fusion --sizes 16,18 --threads 1 --rounds 8
    python bench/band_ab.py --switch split --sizes 18,19,20 --threads 2 --rounds 6
    python bench/band_ab.py --switch fusion --precision complex64 --sizes 18

Switches: ``fusion`` (two-wire fused blocks on / off, ``_core._set_sv_fusion``), ``split`` (a fused row's
amplitudes split over the threads, one parallel region per sweep, against the row on one thread:
``_core._set_sv_fused_parallel_min_wires``). Each round takes one untimed call of each setting, then
``--calls`` timed calls; a round's figure is the minimum CPU time of the process (and the median wall time)
over them. The report gives per setting the median over rounds, and the median (range) over rounds of the
paired ratios A / B of CPU and of wall time (the wall time is what a second thread has to buy). Each thread
count runs in its own child process with OMP_NUM_THREADS set first.
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


def _settings(switch):
    from pyqml import _core

    if switch == "fusion":
        def fusion(on):
            def apply():
                _core._set_sv_fusion(on)
            return apply
        return [("unfused", fusion(False)), ("fused", fusion(True))]
    if switch == "split":
        def split(min_wires):
            def apply():
                _core._set_sv_fusion(True)
                _core._set_sv_sweep_region(True)
                _core._set_sv_fused_parallel_min_wires(min_wires)
            return apply
        return [("row on one thread", split(41)), ("split, one region", split(1))]
    raise ValueError(f"unknown switch {switch!r} (fusion, split)")


def _worker(spec):
    sys.path.insert(0, HERE)
    import workloads as wl
    from tensornet_scaling import to_pyqml

    import pyqml as pq
    from pyqml import _core

    pq.set_num_threads(spec["threads"])
    saved = (_core._sv_fusion(), _core._sv_sweep_region(), _core._sv_fused_parallel_min_wires())
    settings = _settings(spec["switch"])
    recs = []
    for n in spec["sizes"]:
        c, obs, theta = to_pyqml(wl.w2_circuit(n))
        ex = c.executor([obs], "statevector", precision=spec["precision"])
        funcs = {"value": lambda ex=ex, t=theta: ex.expval(t), "value_and_grad": lambda ex=ex, t=theta: ex.jacobian(t)}
        for func, f in funcs.items():
            for rnd in range(spec["rounds"]):
                order = settings if rnd % 2 == 0 else settings[::-1]
                for name, apply in order:
                    apply()
                    f()
                    ts, cs = [], []
                    for _ in range(spec["calls"]):
                        c0, t0 = time.process_time(), time.perf_counter()
                        f()
                        ts.append(time.perf_counter() - t0)
                        cs.append(time.process_time() - c0)
                    recs.append({"setting": name, "n": n, "func": func, "round": rnd, "threads": spec["threads"],
                                 "precision": spec["precision"], "cpu_s": min(cs),
                                 "wall_s": statistics.median(ts)})
                    print(f"threads={spec['threads']} n={n} {func:14s} round {rnd} {name:18s} "
                          f"cpu {min(cs) * 1e3:8.2f} ms wall {statistics.median(ts) * 1e3:8.2f} ms",
                          file=sys.stderr, flush=True)
    _core._set_sv_fusion(saved[0])
    _core._set_sv_sweep_region(saved[1])
    _core._set_sv_fused_parallel_min_wires(saved[2])
    return recs


def summary(records, switch):
    names = [name for name, _ in _settings(switch)]
    a, b = names
    lines = [f"| threads | n | quantity | {a} CPU / wall | {b} CPU / wall | {a} / {b} (CPU, paired) | "
             f"{a} / {b} (wall, paired) | rounds |",
             "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["threads"], r["n"], r["func"]) for r in records})
    for t, n, func in keys:
        rs = [r for r in records if (r["threads"], r["n"], r["func"]) == (t, n, func)]
        by = {name: {r["round"]: r for r in rs if r["setting"] == name} for name in names}
        rounds = sorted(set(by[a]) & set(by[b]))
        cells = []
        for name in names:
            cpu = statistics.median(by[name][k]["cpu_s"] for k in rounds)
            wall = statistics.median(by[name][k]["wall_s"] for k in rounds)
            cells.append(f"{cpu * 1e3:.3g} / {wall * 1e3:.3g}")
        paired = []
        for what in ("cpu_s", "wall_s"):
            ratios = [by[a][k][what] / by[b][k][what] for k in rounds]
            paired.append(f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})")
        lines.append(f"| {t} | {n} | {func} | {cells[0]} | {cells[1]} | {paired[0]} | {paired[1]} | {len(rounds)} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--switch", default="fusion", choices=["fusion", "split"])
    ap.add_argument("--sizes", default="16,18")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--precision", default="complex128", choices=["complex128", "complex64"])
    ap.add_argument("--out", default=None, help="JSON of the per-round records")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print("@@RESULT " + json.dumps(_worker(json.loads(args.worker))), flush=True)
        return 0
    records = []
    for t in (int(x) for x in args.threads.split(",")):
        spec = {"switch": args.switch, "sizes": [int(s) for s in args.sizes.split(",")], "threads": t,
                "rounds": args.rounds, "calls": args.calls, "precision": args.precision}
        p = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                           env=dict(os.environ, OMP_NUM_THREADS=str(t)), stdout=subprocess.PIPE, text=True,
                           check=True)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("@@RESULT ")][-1]
        records.extend(json.loads(line[len("@@RESULT "):]))
    print(f"{args.switch} A/B, {args.precision}, CPU ms (median over rounds of each round's min) / wall ms")
    print(summary(records, args.switch))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"records": records, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
