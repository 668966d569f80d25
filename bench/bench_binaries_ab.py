"""Alternating A/B runs of two pyqml-bench binaries (two builds) on the same workloads in one sitting.

    python bench/bench_binaries_ab.py A_BIN B_BIN --workloads "sel --n 14;sel --n 14 --grad" \
        --threads 1,2 --rounds 5 --repeats 5 [--jsonl out.jsonl]

Each round runs every (workload, threads) case on both binaries back to back, A first in even rounds and B
first in odd ones, so that a slow spell of a shared machine hits both alike. The table gives, per case, the
median over the rounds of each binary's own median time (pyqml-bench --repeats), and B / A; then the
fastest repeat of all rounds (of the per-run medians where a workload reports no minimum, as kernels),
which a busy neighbour on a shared machine disturbs least.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess


def run(binary: str, workload: str, threads: int, repeats: int) -> list[dict]:
    """One pyqml-bench run: its JSON records (one, or one per kernel for the kernels workload)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [binary, *workload.split(), "--threads", str(threads), "--repeats", str(repeats)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--workloads", required=True, help="pyqml-bench argument lists, separated by ';'")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--jsonl", help="append every run's record here")
    args = ap.parse_args()
    cases = [(w.strip(), int(t)) for w in args.workloads.split(";") if w.strip() for t in args.threads.split(",")]
    times: dict = {}
    values: dict = {}
    log = open(args.jsonl, "a") if args.jsonl else None
    for r in range(args.rounds):
        for case in cases:
            for side in ("ab" if r % 2 == 0 else "ba"):
                for rec in run(args.a if side == "a" else args.b, case[0], case[1], args.repeats):
                    key = (case[0] + (f" [{rec['kernel']}]" if "kernel" in rec else ""), case[1])
                    times.setdefault(key, {"a": [], "b": [], "amin": [], "bmin": []})[side].append(rec["median_s"])
                    times[key][side + "min"].append(rec.get("min_s", rec["median_s"]))
                    values.setdefault(key, {"a": set(), "b": set()})[side].add(repr(rec.get("value")))
                    if log:
                        log.write(json.dumps({"side": side, "round": r, **rec}) + "\n")
    if log:
        log.close()
    print("| workload | threads | A median (us) | B median (us) | B / A | A min (us) | B min (us) | B / A (min) "
          "| same value A/B |")
    print("|---|---|---|---|---|---|---|---|---|")
    for case in times:
        ma = statistics.median(times[case]["a"]) * 1e6
        mb = statistics.median(times[case]["b"]) * 1e6
        na, nb = min(times[case]["amin"]) * 1e6, min(times[case]["bmin"]) * 1e6
        same = values[case]["a"] == values[case]["b"]
        runs = "" if len(values[case]["a"]) == 1 and len(values[case]["b"]) == 1 else " (varies run to run!)"
        print(f"| {case[0]} | {case[1]} | {ma:.1f} | {mb:.1f} | {mb / ma:.3f} | {na:.1f} | {nb:.1f} | {nb / na:.3f} "
              f"| {'yes' if same else 'no'}{runs} |")


if __name__ == "__main__":
    main()
