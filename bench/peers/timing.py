"""Small timer shared by the peer benchmarks.

* :func:`measure` runs a zero-argument callable: ``warmup`` untimed runs (JIT compiles,
  caches), then up to ``repeats`` timed runs within ``budget_s``; it reports median, min
  and max wall time and the last result.
* :func:`run_cases` runs a list of cases for one peer module in a child process and
  enforces a per-measurement timeout: a case that does not finish in time is recorded
  with ``status: "timeout"`` (the child is killed and restarted for the remaining
  cases; larger sizes of the same function are not attempted).  A peer whose module
  cannot be imported gets ``status: "missing"`` for every case rather than being
  silently skipped.

The child is this file run as a script (``--worker``) reading a JSON spec on stdin and
writing one ``@@REC <json>`` line per finished case.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
MARK = "@@REC "
READY = "@@READY"


def measure(fn, warmup=1, repeats=5, budget_s=30.0):
    """Time ``fn()``.  Returns ``dict(median_s, min_s, max_s, repeats, warmup_s, result)``.

    ``warmup`` untimed calls come first (their total time is ``warmup_s``); then timed
    calls until ``repeats`` are done or the timed total would pass ``budget_s`` (at
    least one timed call is always made)."""
    t0 = time.perf_counter()
    result = None
    for _ in range(warmup):
        result = fn()
    warmup_s = time.perf_counter() - t0
    times = []
    spent = 0.0
    while len(times) < max(1, repeats):
        t = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t
        times.append(dt)
        spent += dt
        if spent + dt > budget_s:
            break
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": len(times),
        "warmup_s": warmup_s,
        "result": result,
    }


# ----------------------------------------------------------------------------- child


def _worker():
    spec = json.loads(sys.stdin.read())
    sys.path.insert(0, HERE)
    out = sys.stdout
    # Libraries may print to stdout; keep our protocol lines distinguishable.
    try:
        import importlib

        mod = importlib.import_module(spec["module"])
        versions = getattr(mod, "versions", lambda: {})()
    except Exception as exc:  # ImportError or a broken install: report, don't skip
        for case in spec["cases"]:
            rec = dict(case["record"], status="missing",
                       error=f"{type(exc).__name__}: {exc}"[:500])
            out.write(MARK + json.dumps(rec) + "\n")
            out.flush()
        return
    out.write(READY + "\n")
    out.flush()
    summarize = _load_summarizer(spec.get("summarizer"))
    for case in spec["cases"]:
        rec = dict(case["record"], versions=versions)
        fn = getattr(mod, case["func"], None)
        if fn is None:
            rec["status"] = "unsupported"
        else:
            args = [_resolve(a) for a in case.get("args", [])]
            try:
                m = measure(lambda fn=fn, args=args: fn(*args), warmup=case.get("warmup", 1),
                            repeats=case.get("repeats", 5),
                            budget_s=case.get("budget_s", 20.0))
                res = m.pop("result")
                rec.update(m)
                rec["status"] = "ok"
                if summarize is not None:
                    rec.update(summarize(case, res))
            except MemoryError:
                rec["status"] = "error"
                rec["error"] = "MemoryError"
            except Exception as exc:
                rec["status"] = "error"
                rec["error"] = f"{type(exc).__name__}: {exc}"[:500]
                rec["traceback"] = traceback.format_exc()[-2000:]
        out.write(MARK + json.dumps(rec, default=float) + "\n")
        out.flush()


def _resolve(arg):
    """``"$w1_data"`` stands for the standardized Iris inputs (loaded once, untimed)."""
    if arg == "$w1_data":
        from _common import w1_data

        return w1_data()
    return arg


def _load_summarizer(ref):
    """``"module:function"`` -> callable(case, result) -> dict of extra record fields."""
    if not ref:
        return None
    import importlib

    mod_name, fn_name = ref.split(":")
    return getattr(importlib.import_module(mod_name), fn_name)


# ---------------------------------------------------------------------------- parent


def run_cases(module, cases, timeout_s=60.0, import_timeout_s=120.0, summarizer=None,
              python=None, log=None):
    """Run ``cases`` (dicts with ``func``, ``args``, ``record``, optional ``chain``,
    ``warmup``, ``repeats``, ``budget_s``, ``timeout_s``) of peer ``module`` in a child
    process.  Returns one record dict per case, in order.

    ``timeout_s`` bounds each case (warm-up included); a timed-out case is recorded as
    ``status: "timeout"`` and later cases with the same ``chain`` value are recorded
    as timeouts without being run."""
    python = python or sys.executable
    pending = list(cases)
    records = []
    dead_chains = set()
    while pending:
        keep = []
        for c in pending:
            if c.get("chain") in dead_chains:
                records.append(dict(c["record"], status="timeout",
                                    note="not run: a smaller size of this measurement "
                                         "timed out or failed"))
                if log:
                    log(records[-1])
            else:
                keep.append(c)
        pending = keep
        if not pending:
            break
        batch = pending
        spec = {"module": module, "cases": batch, "summarizer": summarizer}
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        proc = subprocess.Popen([python, os.path.join(HERE, "timing.py"), "--worker"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=env, cwd=HERE)
        proc.stdin.write(json.dumps(spec))
        proc.stdin.close()
        idx = 0
        ready = False
        deadline = time.monotonic() + import_timeout_s
        failed = None
        while idx < len(batch):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                failed = "timeout"
                break
            r, _, _ = select.select([proc.stdout], [], [], min(remaining, 1.0))
            if not r:
                continue
            line = proc.stdout.readline()
            if line == "":
                failed = "crashed"
                break
            line = line.rstrip("\n")
            if line == READY:
                ready = True
                deadline = time.monotonic() + batch[idx].get("timeout_s", timeout_s)
                continue
            if not line.startswith(MARK):
                continue
            rec = json.loads(line[len(MARK):])
            records.append(rec)
            if log:
                log(rec)
            idx += 1
            if idx < len(batch):
                deadline = time.monotonic() + batch[idx].get("timeout_s", timeout_s)
        if failed:
            proc.kill()
        proc.wait()
        done = batch[:idx]
        if failed and idx < len(batch):
            c = batch[idx]
            t = c.get("timeout_s", timeout_s) if ready else import_timeout_s
            if failed == "timeout":
                rec = dict(c["record"], status="timeout", timeout_s=t)
            else:
                rec = dict(c["record"], status="error",
                           error=f"worker exited (code {proc.returncode}); out of memory?")
            records.append(rec)
            if log:
                log(rec)
            if c.get("chain") is not None:
                dead_chains.add(c["chain"])
            done = batch[:idx + 1]
        done_ids = {id(c) for c in done}
        pending = [c for c in pending if id(c) not in done_ids]
    return records


if __name__ == "__main__":
    if "--worker" in sys.argv:
        _worker()
    else:
        print(__doc__)
