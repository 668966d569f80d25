"""Dimensionality reduction with quantum kernels, and projected quantum kernels.

- :func:`kernel_pca` / :func:`spectral_embedding`: a quantum kernel's Gram matrix into scikit-learn's
  ``KernelPCA(kernel="precomputed")`` or ``SpectralEmbedding(affinity="precomputed")``; each returns the fitted
  :class:`QuantumKernelReducer` (``transform`` of new rows for kernel PCA, ``embedding_`` for both).
- :class:`ProjectedQuantumKernel` (Huang et al., Nat. Commun. 12, 2631 (2021), eq. (9)): each row's feature
  state is reduced to the one-qubit density matrices ``rho_k = (I + <X_k> X + <Y_k> Y + <Z_k> Z) / 2`` and

      k(x, x') = exp(-gamma sum_k ||rho_k(x) - rho_k(x')||_F^2),   ||rho_k - rho_k'||_F^2 = |a_k - a_k'|^2 / 2

  with ``a_k`` the Bloch vector ``(<X_k>, <Y_k>, <Z_k>)``. Only 3n local expectation values per row are needed,
  each through its light cone on the tensor network, so shallow feature maps run at 50-500 qubits; the
  state vector gives the same numbers on small registers.
"""
from __future__ import annotations

import numbers

import numpy as np

try:
    from sklearn.base import BaseEstimator, TransformerMixin
except ImportError as e:  # pragma: no cover
    raise ImportError("pyqml.kernels needs scikit-learn: pip install scikit-learn") from e

from ..frontend.measurements import expval
from ..frontend.observables import Observable
from ..frontend.ops import CZ, RY, RZ
from ..frontend.qnode import qnode
from . import templates

__all__ = ["ProjectedQuantumKernel", "QuantumKernelReducer", "brickwork_feature_map", "kernel_pca",
           "spectral_embedding"]


def _check_rows(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (rows, features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def brickwork_feature_map(x, wires, reps: int = 2) -> None:
    """A shallow, local feature map: per repetition, ``RY(x_j)`` on every wire (feature ``j = wire mod d``),
    ``CZ`` on the even then the odd neighbouring pairs, ``RZ(x_j)`` on every wire. Each qubit's light cone
    grows by two wires per repetition, whatever the register size."""
    wires = list(wires)
    d = len(x)
    for _ in range(int(reps)):
        for i, w in enumerate(wires):
            RY(x[i % d], wires=w)
        for start in (0, 1):
            for i in range(start, len(wires) - 1, 2):
                CZ(wires=[wires[i], wires[i + 1]])
        for i, w in enumerate(wires):
            RZ(x[i % d], wires=w)


class ProjectedQuantumKernel(BaseEstimator):
    """Projected quantum kernel: a Gaussian kernel on the one-qubit reduced density matrices of a feature map.

    Parameters
    ----------
    n_qubits : int or None
        Register size; None uses one qubit per feature. Features are reused cyclically on wider registers.
    feature_map : "brickwork", "iqp", "angle" or callable ``feature_map(x, wires)``
    reps : int
        Repetitions of the "brickwork" and "iqp" maps.
    gamma : float or None
        Kernel width; None: ``1 / n_qubits`` (the sum runs over n qubits).
    method : str
        "auto" (state vector up to 12 qubits, else the cheaper estimate), "tensornet" or "statevector".
    optimize : str, optional
        The tensor network's path search.
    """

    def __init__(self, n_qubits: int | None = None, feature_map="brickwork", reps: int = 2, gamma: float | None = None,
                 method: str = "auto", optimize: str | None = None):
        self.n_qubits = n_qubits
        self.feature_map = feature_map
        self.reps = reps
        self.gamma = gamma
        self.method = method
        self.optimize = optimize

    def _embed(self):
        fm = self.feature_map
        if callable(fm):
            return fm
        if fm == "brickwork":
            return lambda x, w: brickwork_feature_map(x, w, reps=self.reps)
        if fm == "iqp":
            return lambda x, w: templates.IQPEmbedding(x, wires=w, n_repeats=self.reps)
        if fm == "angle":
            return lambda x, w: templates.AngleEmbedding(x, wires=w)
        raise ValueError(f"feature_map must be 'brickwork', 'iqp', 'angle' or a callable, got {fm!r}")

    def _qnode(self, d: int):
        n = d if self.n_qubits is None else self.n_qubits
        if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)) or n < 1:
            raise ValueError(f"n_qubits must be a positive integer, got {self.n_qubits!r}")
        cache = self.__dict__.setdefault("_qnodes", {})
        key = (d, int(n), self.feature_map if not callable(self.feature_map) else id(self.feature_map), self.reps,
               self.method, self.optimize)
        if key not in cache:
            embed = self._embed()
            wires = list(range(int(n)))
            obs = [Observable.pauli(p, q) for q in wires for p in "XYZ"]
            opts = {} if self.optimize is None else {"optimize": self.optimize}

            @qnode(wires=int(n), method=self.method, **opts)
            def local(inputs):
                embed(inputs if d <= int(n) or callable(self.feature_map) else inputs[:int(n)], wires)
                return [expval(o) for o in obs]

            cache[key] = local
        return cache[key]

    def bloch_vectors(self, X) -> np.ndarray:
        """(rows, n_qubits, 3): ``(<X_k>, <Y_k>, <Z_k>)`` of every qubit, one batched engine call."""
        X = _check_rows(X)
        vals = np.asarray(self._qnode(X.shape[1])(X))
        return vals.reshape(X.shape[0], -1, 3)

    def reduced_density_matrices(self, X) -> np.ndarray:
        """(rows, n_qubits, 2, 2) one-qubit reduced density matrices ``(I + a . sigma) / 2``."""
        a = self.bloch_vectors(X)
        sig = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])
        return 0.5 * (np.eye(2) + np.einsum("rkp,pij->rkij", a, sig))

    def __call__(self, X, Y=None) -> np.ndarray:
        X = _check_rows(X)
        if self.gamma is not None and not (isinstance(self.gamma, numbers.Real) and np.isfinite(self.gamma)
                                           and self.gamma > 0):
            raise ValueError(f"gamma must be positive and finite (or None), got {self.gamma!r}")
        bx = self.bloch_vectors(X)
        gamma = 1.0 / bx.shape[1] if self.gamma is None else float(self.gamma)
        ax = bx.reshape(X.shape[0], -1)
        if Y is None:
            ay = ax
        else:
            Y = _check_rows(Y, "Y")
            if Y.shape[1] != X.shape[1]:
                raise ValueError(f"X has {X.shape[1]} features but Y has {Y.shape[1]}: a kernel compares rows of "
                                 "the same width")
            ay = self.bloch_vectors(Y).reshape(Y.shape[0], -1)
        d2 = (ax * ax).sum(1)[:, None] + (ay * ay).sum(1)[None, :] - 2 * ax @ ay.T
        K = np.exp(-gamma * 0.5 * np.maximum(d2, 0.0))
        if Y is None:
            np.fill_diagonal(K, 1.0)
        return K

    def __getstate__(self):
        d = dict(super().__getstate__())
        d.pop("_qnodes", None)
        return d


class QuantumKernelReducer(BaseEstimator, TransformerMixin):
    """A kernel (``kernel(X, Y) -> Gram``, e.g. :class:`pyqml.sklearn.QuantumKernel` or
    :class:`ProjectedQuantumKernel`) feeding scikit-learn's kernel PCA or spectral embedding.

    Parameters
    ----------
    kernel : callable
    n_components : int
    reducer : {"kpca", "spectral"}
    **reducer_params : passed to ``KernelPCA`` / ``SpectralEmbedding``

    Attributes
    ----------
    estimator_ : the fitted KernelPCA or SpectralEmbedding
    gram_ : (rows, rows) training Gram matrix
    embedding_ : (rows, n_components) the training rows reduced
    """

    def __init__(self, kernel, n_components: int = 2, reducer: str = "kpca", random_state=None, **reducer_params):
        self.kernel = kernel
        self.n_components = n_components
        self.reducer = reducer
        self.random_state = random_state
        self.reducer_params = reducer_params

    def fit(self, X, y=None):
        from sklearn.decomposition import KernelPCA
        from sklearn.manifold import SpectralEmbedding

        X = _check_rows(X)
        if not callable(self.kernel):
            raise TypeError(f"kernel must be callable (kernel(X, Y) -> Gram matrix), got {self.kernel!r}")
        K = np.asarray(self.kernel(X), dtype=float)
        if K.shape != (X.shape[0], X.shape[0]):
            raise ValueError(f"the kernel returned shape {K.shape} for {X.shape[0]} rows")
        self.X_fit_ = X
        self.gram_ = K
        if self.reducer == "kpca":
            self.estimator_ = KernelPCA(n_components=self.n_components, kernel="precomputed",
                                        random_state=self.random_state, **self.reducer_params)
        elif self.reducer == "spectral":
            self.estimator_ = SpectralEmbedding(n_components=self.n_components, affinity="precomputed",
                                                random_state=self.random_state, **self.reducer_params)
        else:
            raise ValueError(f"reducer must be 'kpca' or 'spectral', got {self.reducer!r}")
        self.embedding_ = self.estimator_.fit_transform(K)
        return self

    def fit_transform(self, X, y=None):
        return self.fit(X).embedding_

    def transform(self, X):
        if not hasattr(self, "estimator_"):
            raise ValueError("call fit(X) first")
        if self.reducer != "kpca":
            raise ValueError("a spectral embedding has no out-of-sample transform; use embedding_ or kpca")
        X = _check_rows(X)
        if X.shape[1] != self.X_fit_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, the reducer was fitted with {self.X_fit_.shape[1]}")
        return self.estimator_.transform(np.asarray(self.kernel(X, self.X_fit_), dtype=float))


def kernel_pca(kernel, X, n_components: int = 2, **params) -> QuantumKernelReducer:
    """Kernel PCA of ``X`` with a quantum kernel: the fitted :class:`QuantumKernelReducer`."""
    return QuantumKernelReducer(kernel, n_components, "kpca", **params).fit(X)


def spectral_embedding(kernel, X, n_components: int = 2, **params) -> QuantumKernelReducer:
    """Spectral embedding of ``X`` with the quantum kernel as affinity: the fitted :class:`QuantumKernelReducer`."""
    return QuantumKernelReducer(kernel, n_components, "spectral", **params).fit(X)
