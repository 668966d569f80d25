"""A PennyLane training listing (a 2-qubit circuit with a data argument x, a plain Python cost of per-sample
qnode calls, GradientDescentOptimizer(stepsize=0.1), 100 steps) run three ways:

* PennyLane code as written, with ``import pyqml as qml``, the device line changed and plain numpy: it trains
  and follows the trajectory PennyLane gives with ``pennylane.numpy`` on ``default.qubit`` (recorded below,
  PennyLane 0.45.1), to 1e-10;
* unchanged but for the device line, inside PennyLane on ``pyqml.qubit``: the same trajectory with
  ``pennylane.numpy``, and, as PennyLane does with plain numpy arrays, no training at all.

The generator is seeded after the device line: PennyLane's import and ``default.qubit`` draw from numpy's
global generator, pyqml's do not.
"""
import numpy
import pytest

LISTING = '''
{imports}

{device}
np.random.seed(0)

@qml.qnode(dev)
def circuit(params, x):
    qml.RX(x[0], wires=0)
    qml.RX(x[1], wires=1)
    qml.RY(params[0], wires=0)
    qml.RY(params[1], wires=1)
    qml.CNOT(wires=[0, 1])
    return qml.expval(qml.PauliZ(1))

X = np.random.uniform(0, np.pi, (8, 2))
Y = 0.3 * np.cos(X[:, 0]) * np.cos(X[:, 1])

def cost(params):
    predictions = [circuit(params, x) for x in X]
    return np.mean((np.array(predictions) - Y) ** 2)

params = np.random.rand(2)
opt = qml.GradientDescentOptimizer(stepsize=0.1)
costs = []
for step in range(100):
    params, c = opt.step_and_cost(cost, params)
    costs.append(c)
'''

# PennyLane 0.45.1, default.qubit, ``from pennylane import numpy as np``: the costs before steps 1, 10, 20, 50
# and 100, the parameters after step 100 and the cost there.
PENNYLANE_COSTS = {0: 0.01931379454682558, 9: 0.01442539403684537, 19: 0.010054449599792174, 49: 0.0028617846357040493, 99: 0.00026170451067808085}
PENNYLANE_PARAMS = [0.025706391599420453, 1.221277423593758]
PENNYLANE_FINAL = 0.00024903565649082187
PLAIN_NUMPY_COST = 0.01931379454682558  # PennyLane with plain numpy: the cost never moves from the first


def run(imports: str, device: str) -> dict:
    scope: dict = {}
    exec(compile(LISTING.format(imports=imports, device=device), "listing", "exec"), scope)
    return scope


def check_trajectory(scope):
    for i, c in PENNYLANE_COSTS.items():
        assert abs(float(scope["costs"][i]) - c) < 1e-10, i
    numpy.testing.assert_allclose(numpy.asarray(scope["params"]), PENNYLANE_PARAMS, atol=1e-10, rtol=0)
    assert abs(float(scope["cost"](scope["params"])) - PENNYLANE_FINAL) < 1e-10


def test_pyqml_trains_the_listing_with_plain_numpy():
    scope = run("import pyqml as qml\nimport numpy as np", "dev = 2  # pyqml: @qml.qnode takes the wires")
    check_trajectory(scope)
    assert PENNYLANE_FINAL < 0.1 * PLAIN_NUMPY_COST


@pytest.mark.filterwarnings("ignore:Attempted to differentiate a function with no trainable parameters")
def test_the_listing_inside_pennylane_on_pyqml_qubit():
    pytest.importorskip("pennylane")
    device = 'dev = qml.device("pyqml.qubit", wires=2)'
    check_trajectory(run("import pennylane as qml\nfrom pennylane import numpy as np", device))
    scope = run("import pennylane as qml\nimport numpy as np", device)
    assert all(abs(float(c) - PLAIN_NUMPY_COST) < 1e-12 for c in scope["costs"])
