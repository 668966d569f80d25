"""The hybrid Iris classifier: quantum features (AngleEmbedding + StronglyEntanglingLayers, <Z_i>) then a
classical dense layer, trained end to end on all three classes through the qnode's batched VJP.

    python examples/hybrid_iris.py
"""
from pyqml.datasets import load_iris, standardize, train_test_split
from pyqml.models import Dense, HybridModel, QuantumLayer

import pyqml as pq


@pq.qnode(wires=4)
def features(inputs, weights):
    pq.AngleEmbedding(inputs, wires=range(4))
    pq.StronglyEntanglingLayers(weights, wires=range(4))
    return [pq.expval(pq.Z(i)) for i in range(4)]


def main(epochs: int = 100, seed: int = 0):
    X, y = load_iris()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_fraction=0.2, seed=seed)
    Xtr, mean, std = standardize(Xtr)
    Xte, _, _ = standardize(Xte, mean, std)
    model = HybridModel([QuantumLayer(features, {"weights": (2, 4, 3)}, rng=seed), Dense(4, 3, rng=seed)])
    history = model.fit(Xtr, ytr, epochs=epochs, optimizer=pq.AdamOptimizer(stepsize=0.1))
    acc = model.accuracy(Xte, yte)
    print(f"loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.3f}; test accuracy {acc:.3f} "
          f"on {len(yte)} held-out rows")
    return acc


if __name__ == "__main__":
    main()
