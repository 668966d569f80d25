"""Where idle OpenMP workers sleep (OMP_WAIT_POLICY=PASSIVE, what `import pyqml` sets), a small lane call
keeps to fewer threads (Simulator::lane_workers); where they spin it spreads its blocks over all threads.
The thread count must never change a lane call's result: the same bits under both policies, for values and
the Jacobian, on batches below and above the work threshold. (The shared-suffix path is switched off: its
cost model weighs the lanes by their thread count, so the policy may move a call between the two paths,
which agree to rounding, not to the bit.)"""
import json
import os
import subprocess
import sys

CHILD = r"""
import json, numpy as np, pyqml as pq
pq.set_num_threads(2)
pq._core._set_sv_shared_suffix(False)
out = {}
for rows in (3, 150, 1200):
    x = np.random.default_rng(rows).uniform(-2, 2, (rows, 4))
    w = np.random.default_rng(1).uniform(0, 6.3, (2, 4, 3))
    @pq.qnode(wires=4, method="statevector")
    def f(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(4))
        pq.StronglyEntanglingLayers(weights, wires=range(4))
        return [pq.expval(pq.Z(i)) for i in range(4)]
    v = f(x, w)
    jac = f.jacobian(x, w)  # values, then the Jacobians by inputs and by weights
    assert np.allclose(jac[0], v, rtol=0, atol=1e-13)
    out[rows] = [np.asarray(a).tobytes().hex() for a in (v, *jac)]
print(json.dumps(out))
"""


def run(policy):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["OMP_WAIT_POLICY"] = policy
    env["OMP_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_wait_policy_never_changes_the_bits():
    passive, active = run("PASSIVE"), run("ACTIVE")
    assert passive.keys() == active.keys() == {"3", "150", "1200"}
    for rows in passive:
        assert passive[rows] == active[rows], rows
