"""A 4-wire quantum neural network: AngleEmbedding of the inputs, StronglyEntanglingLayers, <Z_i> on every
wire, evaluated on a whole batch in one call, with its Jacobian.

    python examples/qnn_forward.py
"""
import numpy as np

import pyqml as pq


@pq.qnode(wires=4)
def qnn(inputs, weights):
    pq.AngleEmbedding(inputs, wires=range(4))
    pq.StronglyEntanglingLayers(weights, wires=range(4))
    return [pq.expval(pq.Z(i)) for i in range(4)]


def main(n_rows: int = 150, n_layers: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0, 2 * np.pi, size=pq.StronglyEntanglingLayers.shape(n_layers=n_layers, n_wires=4))
    X = rng.normal(size=(n_rows, 4))
    out = qnn(X, weights)                                  # (n_rows, 4)
    _, d_weights, d_inputs = qnn.jacobian(X, weights)   # (n_rows, 4), (n_rows, 4, L, 4, 3), (n_rows, 4, 4)
    print(f"outputs {out.shape}, first row {np.round(out[0], 6)}")
    print(f"d/dweights {d_weights.shape}, d/dinputs {d_inputs.shape}")
    return out, d_weights, d_inputs


if __name__ == "__main__":
    main()
