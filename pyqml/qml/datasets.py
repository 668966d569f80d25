"""Small data sets shipped with the package (no download): Iris (Fisher 1936, as in scikit-learn)."""
from __future__ import annotations

import os

import numpy as np

__all__ = ["load_iris", "standardize", "train_test_split"]

_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """The 150 Iris rows: features (150, 4) (sepal length/width, petal length/width in cm) and labels
    (150,) in {0, 1, 2} (setosa, versicolor, virginica), in the data set's order."""
    path = os.path.join(_DATA, "iris.csv")
    with open(path) as fh:
        header = fh.readline().strip().split(",")
        text = fh.read()
    if header != ["sepal_length", "sepal_width", "petal_length", "petal_width", "label"]:
        raise ValueError(f"{path}: unexpected header {header}")
    # Every field converted in one call (correctly rounded, as np.loadtxt does), without loadtxt's set-up.
    rows = text.split()
    data = np.array(text.replace("\n", ",").strip(",").split(","), dtype=float)
    if data.size != 5 * len(rows):
        raise ValueError(f"{path}: every row must have 5 fields")
    data = data.reshape(len(rows), 5)
    return data[:, :4].copy(), data[:, 4].astype(int)


def standardize(X: np.ndarray, mean=None, std=None):
    """``(X - mean) / std`` column-wise (statistics of X unless given); returns (Z, mean, std)."""
    X = np.asarray(X, dtype=float)
    mean = X.mean(axis=0) if mean is None else mean
    std = X.std(axis=0) if std is None else std
    return (X - mean) / np.where(std > 0, std, 1.0), mean, std


def train_test_split(X, y, test_fraction: float = 0.2, seed: int = 0):
    """Stratified split: the same fraction of every class goes to the test set, rows drawn with ``seed``."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    test = []
    for c in np.unique(y):
        idx = np.nonzero(y == c)[0]
        k = round(test_fraction * idx.size)
        test.extend(rng.choice(idx, size=k, replace=False).tolist())
    mask = np.zeros(y.shape[0], dtype=bool)
    mask[test] = True
    return X[~mask], X[mask], y[~mask], y[mask]
