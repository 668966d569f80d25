"""scikit-learn estimators: :class:`QNNClassifier`, :class:`QNNRegressor` and :class:`QuantumKernel`.

They follow scikit-learn's conventions (hyper-parameters stored as given in ``__init__``, fitted state in
attributes ending with ``_``, ``random_state``), so they work in ``Pipeline``, ``GridSearchCV`` and
``cross_val_score``. Requires scikit-learn (``pip install 'pyqml[sklearn]'``).

The QNN estimators build a hybrid model: an embedding of the (ideally standardised) features on one wire
per feature, a trainable ansatz, ``<Z_i>`` on every wire, and a dense read-out layer, trained with Adam on
exact batched gradients. The kernel is the fidelity ``|<phi(x)|phi(x')>|^2`` of a feature map: the states of
all rows come from one batched engine call, and the Gram matrix is one complex matrix product.
"""
from __future__ import annotations

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as e:  # pragma: no cover
    raise ImportError("pyqml.sklearn needs scikit-learn: pip install scikit-learn") from e

from ..frontend.measurements import expval, state
from ..frontend.ops import PauliZ
from ..frontend.qnode import qnode
from . import templates
from .models import Dense, HybridModel, QuantumLayer
from .optimizers import AdamOptimizer, GradientDescentOptimizer

__all__ = ["QNNClassifier", "QNNRegressor", "QuantumKernel"]

_EMBEDDINGS = {
    "angle": lambda x, wires: templates.AngleEmbedding(x, wires=wires),
    "angle_y": lambda x, wires: templates.AngleEmbedding(x, wires=wires, rotation="Y"),
    "iqp": lambda x, wires: templates.IQPEmbedding(x, wires=wires),
    "zz": lambda x, wires: templates.ZZFeatureMap(x, wires=wires, reps=1),
}
_ANSATZE = {
    "strongly_entangling": (templates.StronglyEntanglingLayers, lambda L, n: (L, n, 3)),
    "basic_entangler": (templates.BasicEntanglerLayers, lambda L, n: (L, n)),
    "hardware_efficient": (templates.HardwareEfficientAnsatz, lambda L, n: (L, n, 2)),
}


def _check_X(X, n_features: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional (rows, features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but the estimator was fitted with {n_features}")
    return X


class _QNNBase(BaseEstimator):
    def __init__(self, n_layers: int = 2, embedding: str = "angle", ansatz: str = "strongly_entangling",
                 epochs: int = 100, stepsize: float = 0.1, optimizer=None, batch_size: int | None = None,
                 random_state=None, progress: bool = False, shots: int | None = None, noise=None):
        self.n_layers = n_layers
        self.noise = noise
        self.embedding = embedding
        self.ansatz = ansatz
        self.epochs = epochs
        self.stepsize = stepsize
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.random_state = random_state
        self.progress = progress
        self.shots = shots

    def _build(self, n_features: int, n_out: int) -> HybridModel:
        if self.embedding not in _EMBEDDINGS:
            raise ValueError(f"embedding must be one of {sorted(_EMBEDDINGS)}, got {self.embedding!r}")
        if self.ansatz not in _ANSATZE:
            raise ValueError(f"ansatz must be one of {sorted(_ANSATZE)}, got {self.ansatz!r}")
        if not isinstance(self.n_layers, (int, np.integer)) or self.n_layers < 1:
            raise ValueError(f"n_layers must be a positive integer, got {self.n_layers!r}")
        if n_features > 20:
            raise ValueError(f"{n_features} features need {n_features} wires; reduce them first (e.g. PCA)")
        embed = _EMBEDDINGS[self.embedding]
        layer, shape = _ANSATZE[self.ansatz]
        n = n_features
        wires = list(range(n))

        rng = np.random.default_rng(self.random_state)
        seeds = rng.integers(0, 2**31, size=3)
        options = {} if self.noise is None else {"noise": self.noise}

        @qnode(wires=n, shots=self.shots, seed=int(seeds[2]), **options)
        def circuit(inputs, weights):
            embed(inputs, wires)
            layer(weights, wires=wires)
            return [expval(PauliZ(i)) for i in wires]

        return HybridModel([QuantumLayer(circuit, {"weights": shape(int(self.n_layers), n)}, rng=int(seeds[0])),
                            Dense(n, n_out, rng=int(seeds[1]))], loss=self._loss)

    def _optimizer(self):
        if self.optimizer is None:
            return AdamOptimizer(self.stepsize)
        if isinstance(self.optimizer, GradientDescentOptimizer):
            import copy

            return copy.deepcopy(self.optimizer)
        raise TypeError("optimizer must be None or a pyqml gradient optimiser instance")

    def _train(self, X, target):
        self.model_ = self._build(X.shape[1], self._n_out)
        self.history_ = self.model_.fit(X, target, epochs=self.epochs, optimizer=self._optimizer(),
                                        batch_size=self.batch_size, rng=self.random_state, progress=self.progress)
        self.n_features_in_ = X.shape[1]
        return self


class QNNClassifier(ClassifierMixin, _QNNBase):
    """A quantum neural network classifier: embedding + ansatz on one wire per feature, <Z_i> read out by a
    dense softmax layer, trained with Adam (or ``optimizer``) on softmax cross-entropy.

    Parameters
    ----------
    n_layers : int
        Ansatz depth.
    embedding : {"angle", "angle_y", "iqp", "zz"}
    ansatz : {"strongly_entangling", "basic_entangler", "hardware_efficient"}
    epochs, stepsize, batch_size :
        Training schedule (``batch_size=None``: the whole set per step).
    optimizer : pyqml optimiser, optional
        Defaults to ``AdamOptimizer(stepsize)``.
    random_state : int, optional
        Seeds the initial weights and the minibatch order.
    progress : bool
        Show a tqdm progress bar while fitting (when tqdm is installed).
    shots : int, optional
        None (exact, the default), or the shots of every expectation value, in training (shift-rule
        gradients from shots) and prediction.
    noise : pyqml.NoiseModel, optional
        Channels added to the circuit (``noise=`` of the executors): trained and evaluated on a method that
        simulates noise (the density matrix).
    """

    _loss = "cross_entropy"

    def fit(self, X, y):
        X = _check_X(X)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must hold one label per row of X ({X.shape[0]}), got shape {y.shape}")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError("QNNClassifier needs at least two classes in y")
        self._n_out = self.classes_.size
        return self._train(X, codes)

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this QNNClassifier is not fitted yet; call fit first")

    def predict_proba(self, X) -> np.ndarray:
        self._check_fitted()
        return self.model_.predict_proba(_check_X(X, self.n_features_in_))

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy; labels the classifier was not fitted on raise a ValueError."""
        self._check_fitted()
        y = np.asarray(y)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"y contains labels not seen during fit: {unseen.tolist()} "
                             f"(known: {self.classes_.tolist()})")
        return super().score(X, y, sample_weight)


class QNNRegressor(RegressorMixin, _QNNBase):
    """A quantum neural network regressor: as :class:`QNNClassifier`, with one linear output trained on the
    mean squared error of the standardised target (predictions are mapped back to the target's scale)."""

    _loss = "mse"
    _n_out = 1

    def fit(self, X, y):
        X = _check_X(X)
        y = np.asarray(y, dtype=float)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must hold one target per row of X ({X.shape[0]}), got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinite values")
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std()) or 1.0
        return self._train(X, (y - self.y_mean_) / self.y_scale_)

    def predict(self, X) -> np.ndarray:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this QNNRegressor is not fitted yet; call fit first")
        out = self.model_.forward(_check_X(X, self.n_features_in_))[:, 0]
        return out * self.y_scale_ + self.y_mean_


class QuantumKernel(BaseEstimator):
    """Fidelity kernel ``k(x, x') = |<phi(x)|phi(x')>|^2`` of a feature map, for ``SVC(kernel=...)``.

    ``kernel(X, Y)`` computes the states of all rows of X (and of Y) in one batched engine call each and
    the Gram matrix as ``|conj(S_X) S_Y^T|^2``.

    Parameters
    ----------
    feature_map : {"iqp", "zz", "angle", "angle_y"} or callable
        A callable is ``feature_map(x, wires)`` recording gates (``x`` a traced input row). On standardised
        data "iqp" (the default) and "angle" work well; Qiskit's "zz" map wants features scaled to ~[0, pi].
    reps : int
        Repetitions of the "zz" and "iqp" maps.
    entanglement : str
        Entangling pairs of the "zz" map (see :func:`pyqml.entangler_pairs`).
    method : {"auto", "statevector", "mps"}
        "statevector" builds the 2^n states (at most 20 features); "mps" computes every overlap
        <phi(x)|phi(x')> between matrix product states (50-200 features for 1-D-like maps); "auto" takes the
        MPS above 20 features and, up to 20, whichever of the two its cost estimate finds cheaper.
    max_bond, cutoff : the MPS truncation (see :mod:`pyqml.mps`); None and 0 keep it exact.
    shots : int, optional
        None (exact, the default), or the shots of each entry's compute-uncompute measurement
        ``U(x')^dagger U(x)|0>``: the entry is the frequency of the all-zeros outcome, a binomial draw with
        the fidelity as its probability (the diagonal stays 1, as it is not measured).
    random_state : int, optional
        Seeds the shots.
    """

    def __init__(self, feature_map="iqp", reps: int = 1, entanglement: str = "full", method: str = "auto",
                 max_bond=None, cutoff: float = 0.0, shots: int | None = None, random_state=None):
        self.feature_map = feature_map
        self.reps = reps
        self.entanglement = entanglement
        self.method = method
        self.max_bond = max_bond
        self.cutoff = cutoff
        self.shots = shots
        self.random_state = random_state

    def _embed(self):
        fm = self.feature_map
        if callable(fm):
            return fm
        if fm == "zz":
            return lambda x, w: templates.ZZFeatureMap(x, wires=w, reps=self.reps, entanglement=self.entanglement)
        if fm == "iqp":
            return lambda x, w: templates.IQPEmbedding(x, wires=w, n_repeats=self.reps)
        if fm in ("angle", "angle_y"):
            return _EMBEDDINGS[fm]
        raise ValueError(f"feature_map must be 'zz', 'iqp', 'angle', 'angle_y' or a callable, got {fm!r}")

    def _qnode(self, n: int):
        cache = self.__dict__.setdefault("_qnodes", {})
        key = (n, self.feature_map if not callable(self.feature_map) else id(self.feature_map), self.reps,
               self.entanglement)
        if key not in cache:
            if n > 20:
                raise ValueError(f"{n} features need {n} wires; reduce them first (e.g. PCA)")
            embed = self._embed()
            wires = list(range(n))

            @qnode(wires=n, method="statevector")
            def phi(inputs):
                embed(inputs, wires)
                return state()

            cache[key] = phi
        return cache[key]

    def _use_mps(self, X, Y=None) -> bool:
        """Whether the Gram matrix goes through MPS overlaps: ``method="mps"``; under "auto", above 20
        features or where the MPS's own estimate of the overlaps is cheaper than the 2^n states (a shallow
        1-D feature map); MemoryLimitError when neither fits."""
        if self.method not in ("auto", "statevector", "mps"):
            raise ValueError(f"method must be 'auto', 'statevector' or 'mps', got {self.method!r}")
        if self.method != "auto":
            return self.method == "mps"
        from ..frontend.execution import method_class

        n = X.shape[1]
        rows_b = X.shape[0] if Y is None else Y.shape[0]
        circuit = self._mps_circuit(X)
        mps = method_class("mps").overlap_estimate(circuit, X.shape[0], rows_b, "complex128", self.max_bond,
                                                   self.cutoff)
        if n > 20:
            if not mps.feasible:
                from .. import _core

                raise _core.MemoryLimitError(f"QuantumKernel on {n} features: {mps.reason}")
            return True
        sv = method_class("statevector").estimate(circuit, [], "state", "complex128")
        if not sv.feasible:
            return mps.feasible
        rows = X.shape[0] + (0 if Y is None else rows_b)
        sv_flops = rows * sv.flops + 8.0 * X.shape[0] * rows_b * 2.0**n
        return mps.feasible and mps.flops < sv_flops

    def _mps_circuit(self, X):
        return self._mps_qnode(X.shape[1]).compiled_for(X).circuit

    def _mps_overlaps(self, X, Y) -> np.ndarray:
        cq = self._mps_qnode(X.shape[1]).compiled_for(X)
        ex = cq.circuit.executor([], "mps", "complex128", "expval", max_bond=self.max_bond, cutoff=self.cutoff)
        return ex.overlaps(np.zeros(cq.circuit.n_weights), cq.expand(X), cq.expand(Y))

    def _mps_qnode(self, n: int):
        key = ("mps", n, self.feature_map if not callable(self.feature_map) else id(self.feature_map),
               self.reps, self.entanglement)
        cache = self.__dict__.setdefault("_qnodes", {})
        if key not in cache:
            embed = self._embed()
            wires = list(range(n))

            @qnode(wires=n, method="mps")
            def phi(inputs):
                embed(inputs, wires)
                return expval(PauliZ(0))

            cache[key] = phi
        return cache[key]

    def states(self, X) -> np.ndarray:
        """Feature states (rows, 2^n), one batched engine call."""
        X = _check_X(X)
        return np.asarray(self._qnode(X.shape[1])(X))

    def __call__(self, X, Y=None) -> np.ndarray:
        X = _check_X(X)
        if Y is not None:
            Y = _check_X(Y)
            if Y.shape[1] != X.shape[1]:
                raise ValueError(f"X has {X.shape[1]} features but Y has {Y.shape[1]}")
        if self._use_mps(X, Y):
            K = np.abs(self._mps_overlaps(X, X if Y is None else Y)) ** 2
        else:
            SX = self.states(X)
            SY = SX if Y is None else self.states(Y)
            K = np.abs(SX.conj() @ SY.T) ** 2
        if self.shots is None:
            return K
        from ..frontend.shots import as_rng, check_shots

        n = check_shots(self.shots)
        if len(n) != 1:
            raise ValueError(f"QuantumKernel takes one shot count, got {self.shots!r}")
        rng = self.__dict__.setdefault("_rng", as_rng(self.random_state))
        est = rng.binomial(n[0], np.clip(K, 0.0, 1.0)) / n[0]
        if Y is None:
            est = np.triu(est, 1)
            est = est + est.T + np.eye(K.shape[0])
        return est

    def __getstate__(self):  # compiled qnodes are rebuilt on demand, not copied or pickled
        d = dict(super().__getstate__())
        d.pop("_qnodes", None)
        d.pop("_rng", None)
        return d
