"""Minimise <Z_1> of a 2-qubit circuit with gradient descent (stepsize 0.1), printing the cost every 10
steps. <Z_1> = cos(p0) cos(p1), so the minimum is -1.

    python examples/two_qubit_gradient_descent.py
"""
import numpy as np

import pyqml as pq


@pq.qnode(wires=2)
def circuit(params):
    pq.RX(params[0], wires=0)
    pq.RY(params[1], wires=1)
    pq.CNOT(wires=[0, 1])
    return pq.expval(pq.Z(1))


def main(steps: int = 100):
    opt = pq.GradientDescentOptimizer(stepsize=0.1)
    params = np.array([0.5, 0.1])
    costs = []
    for i in range(steps):
        params = opt.step(circuit, params)
        costs.append(float(circuit(params)))
        if (i + 1) % 10 == 0:
            print(f"Cost after step {i + 1:5d}: {costs[-1]: .7f}")
    print(f"Optimized rotation angles: {params}")
    return params, costs


if __name__ == "__main__":
    main()
