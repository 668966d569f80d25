"""Quantum circuit Born machines (Liu & Wang, arXiv:1804.04168; Benedetti et al., npj Quantum Inf. 5, 45 (2019)).

A parametrised circuit ``U(theta)`` on n qubits defines the distribution ``p_theta(x) = |<x|U(theta)|0>|^2`` over
n-bit strings; measuring it samples it. :class:`QCBM` fits ``p_theta`` to training samples by minimising

- the squared maximum mean discrepancy with a Gaussian kernel mixture
  ``K(x, y) = (1/m) sum_s exp(-d(x, y)^2 / (2 sigma_s))``::

      MMD^2 = E_{x,y ~ p} K - 2 E_{x ~ p, y ~ pi} K + E_{x,y ~ pi} K = (p - pi)^T K (p - pi)

  with ``d`` the distance of the strings as integers (``metric="integer"``, the paper's choice for
  discretised 1-D densities) or their Hamming distance (``metric="hamming"``, for images such as
  bars-and-stripes); or
- the exact Kullback-Leibler divergence ``KL(pi || p) = sum_x pi(x) log(pi(x) / p(x))`` (small registers).

Exact gradients: ``dL/dtheta = sum_x g(x) dp(x)/dtheta`` with ``g = dL/dp`` (``2 K (p - pi)`` for MMD,
``-pi / p`` for KL). ``sum_x g(x) p(x)`` is the expectation of the diagonal observable ``diag(g)``, which in the
Walsh basis is ``2^-n sum_S (H g)_S Z_S`` (``H`` the 2^n Walsh-Hadamard matrix, ``Z_S`` the Z string on the bits
of S). So one adjoint VJP of the ``2^n`` Z strings with cotangent ``2^-n H g`` gives the whole gradient (one
forward and one backward sweep, ``4^n`` for the diagonal terms); above a few qubits the batched parameter-shift
probabilities (``2 n_angles + 1`` rows of one engine call, ``n_angles 2^n``) are cheaper, and the cheaper route
by operation count is taken.

Finite shots (``shots=N``, MMD only): the loss and the gradient come from samples. Liu & Wang's unbiased
estimator, generalised to every gate's shift rule ``dp/dtheta_a = sum_k c_k p_{theta + s_k e_a}``::

    dL/dtheta_a = 2 sum_k c_k ( E_{x ~ p_{theta+s_k}, y ~ p_theta} K(x, y) - E_{x ~ p_{theta+s_k}, y ~ pi} K(x, y) )

with every shifted circuit sampled N times (one batch) and independent samples of ``p_theta``.

Sampling goes through the method's sampler: the state vector for small registers, the tensor network's
exact conditional sampler for wide ones (``method="auto"`` picks; a registered "mps" method plugs in through
the same executor protocol).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from ..frontend import gradients
from ..frontend import shots as shot_mod
from ..frontend.circuit import Circuit
from ..frontend.measurements import sample as _sample
from ..frontend.observables import Observable
from ..frontend.params import CONST
from . import templates
from .optimizers import AdamOptimizer

__all__ = ["QCBM", "MMDLoss", "ENUMERATE_MAX_WIRES", "MMD_MATRIX_MAX_WIRES", "bars_and_stripes",
           "discretized_gaussian_mixture", "kl_divergence", "bits_to_int", "int_to_bits"]

# Exact probabilities, KL and log-likelihoods enumerate 2^n outcomes: refused above this register.
ENUMERATE_MAX_WIRES = 20
# The exact MMD holds the 2^n x 2^n kernel (128 MiB at 12 qubits): wider models train with shots=.
MMD_MATRIX_MAX_WIRES = 12

_ANSATZE = {
    "strongly_entangling": templates.StronglyEntanglingLayers,
    "basic_entangler": templates.BasicEntanglerLayers,
    "hardware_efficient": templates.HardwareEfficientAnsatz,
    "real_amplitudes": templates.RealAmplitudes,
    "efficient_su2": templates.EfficientSU2,
}
_REPS_TEMPLATES = (templates.RealAmplitudes, templates.EfficientSU2)


# --- bit strings ---
def bits_to_int(bits: np.ndarray) -> np.ndarray:
    """(..., n) of 0/1, first bit most significant -> integers."""
    bits = np.asarray(bits, dtype=np.int64)
    n = bits.shape[-1]
    return bits @ (1 << np.arange(n - 1, -1, -1, dtype=np.int64))


def int_to_bits(values, n: int) -> np.ndarray:
    """Integers -> (..., n) of 0/1, first bit most significant."""
    v = np.asarray(values, dtype=np.int64)
    return ((v[..., None] >> np.arange(n - 1, -1, -1)) & 1).astype(np.int8)


def _as_outcomes(samples, n: int) -> np.ndarray:
    """Training samples as integers in [0, 2^n): (N, n) of 0/1, or (N,) integers. ValueError naming the
    problem for anything else."""
    arr = np.asarray(samples)
    if arr.size == 0:
        raise ValueError("no samples given")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"samples must be bit strings (N, {n}) or integers (N,), got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("samples must be integers (bit strings of 0/1 or outcome indices)")
    arr = arr.astype(np.int64)
    if arr.ndim == 2:
        if arr.shape[1] != n:
            raise ValueError(f"samples have width {arr.shape[1]}, the model has {n} qubits")
        if np.any((arr != 0) & (arr != 1)):
            raise ValueError("bit-string samples must hold only 0 and 1")
        return bits_to_int(arr)
    if arr.ndim == 1:
        bad = (arr < 0) | (arr >= 2**n)
        if np.any(bad):
            raise ValueError(f"sample {int(arr[np.argmax(bad)])} is outside the register's range [0, 2^{n})")
        return arr
    raise ValueError(f"samples must be (N, {n}) bit strings or (N,) integers, got shape {arr.shape}")


def _check_enumerable(n: int, what: str) -> None:
    if n > ENUMERATE_MAX_WIRES:
        raise ValueError(f"{what} enumerates 2^{n} outcomes; registers of at most {ENUMERATE_MAX_WIRES} qubits "
                         "(use loss='mmd' with shots= for wider models)")


def kl_divergence(target: np.ndarray, model: np.ndarray, eps: float = 1e-12) -> float:
    """``KL(target || model) = sum_x t(x) log(t(x) / max(m(x), eps))`` over outcomes with t(x) > 0."""
    t, m = np.asarray(target, dtype=float), np.asarray(model, dtype=float)
    nz = t > 0
    return float(np.sum(t[nz] * (np.log(t[nz]) - np.log(np.maximum(m[nz], eps)))))


# --- the kernel ---
class MMDLoss:
    """Squared MMD with a Gaussian kernel mixture ``K(x, y) = mean_s exp(-d(x, y)^2 / (2 sigma_s))``.

    Parameters
    ----------
    n_qubits : int
    bandwidths : sequence of float
        The ``sigma_s`` (variances, in units of ``d^2``); Liu & Wang use (0.25, 4) with the integer metric.
    metric : {"integer", "hamming"}
    """

    def __init__(self, n_qubits: int, bandwidths=(0.25, 4.0), metric: str = "integer"):
        if metric not in ("integer", "hamming"):
            raise ValueError(f"metric must be 'integer' or 'hamming', got {metric!r}")
        bw = np.atleast_1d(np.asarray(bandwidths, dtype=float))
        if bw.size == 0 or not np.all(np.isfinite(bw)) or np.any(bw <= 0):
            raise ValueError(f"bandwidths must be positive and finite, got {bandwidths!r}")
        self.n = int(n_qubits)
        self.bandwidths = bw
        self.metric = metric
        self._K = None

    def kernel(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """K between integer outcomes ``x (a,)`` and ``y (b,)`` -> (a, b)."""
        x, y = np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64)
        if self.metric == "integer":
            d2 = (x[:, None] - y[None, :]).astype(float) ** 2
        else:
            xor = np.bitwise_xor(x[:, None], y[None, :])
            d2 = np.zeros(xor.shape)
            for b in range(self.n):
                d2 += (xor >> b) & 1
            d2 = d2 ** 2
        return np.mean([np.exp(-d2 / (2 * s)) for s in self.bandwidths], axis=0)

    @property
    def matrix(self) -> np.ndarray:
        """The (2^n, 2^n) kernel over every outcome (built once)."""
        if self._K is None:
            if self.n > MMD_MATRIX_MAX_WIRES:
                raise ValueError(f"the exact MMD holds a 2^{self.n} x 2^{self.n} kernel; registers of at most "
                                 f"{MMD_MATRIX_MAX_WIRES} qubits (pass shots= to train wider models on samples)")
            idx = np.arange(2**self.n)
            self._K = self.kernel(idx, idx)
        return self._K

    def __call__(self, p: np.ndarray, target: np.ndarray) -> float:
        d = np.asarray(p) - np.asarray(target)
        return float(d @ self.matrix @ d)

    def grad_p(self, p: np.ndarray, target: np.ndarray) -> np.ndarray:
        """dMMD^2/dp = 2 K (p - pi)."""
        return 2.0 * self.matrix @ (np.asarray(p) - np.asarray(target))

    def sampled(self, x: np.ndarray, y: np.ndarray, x2: np.ndarray | None = None) -> float:
        """Unbiased MMD^2 from model samples ``x`` and data samples ``y`` (integers); ``x2`` independent model
        samples (else the U-statistic over pairs of ``x``)."""
        def cross(a, b):
            return float(self.kernel(a, b).mean())

        if x2 is not None:
            kxx = cross(x, x2)
        else:
            k = self.kernel(x, x)
            kxx = float((k.sum() - np.trace(k)) / max(x.size * (x.size - 1), 1))
        ky = self.kernel(y, y)
        kyy = float((ky.sum() - np.trace(ky)) / max(y.size * (y.size - 1), 1))
        return kxx - 2 * cross(x, y) + kyy


# --- the model ---
def _walsh(v: np.ndarray) -> np.ndarray:
    """The Walsh-Hadamard transform ``H v`` (unnormalised) along the last axis of length 2^n."""
    v = np.array(v, dtype=float, copy=True)
    n = v.shape[-1]
    h = 1
    while h < n:
        v = v.reshape(v.shape[:-1] + (n // (2 * h), 2, h))
        a, b = v[..., 0, :].copy(), v[..., 1, :].copy()
        v[..., 0, :], v[..., 1, :] = a + b, a - b
        v = v.reshape(v.shape[:-3] + (n,))
        h *= 2
    return v


class QCBM:
    """A quantum circuit Born machine: ``fit(samples)``, ``sample(n, seed)``, ``probabilities()``,
    ``log_likelihood(samples)``.

    Parameters
    ----------
    n_qubits : int
    ansatz : str, template or callable
        "strongly_entangling" (default), "basic_entangler", "hardware_efficient", "real_amplitudes",
        "efficient_su2", any template of :mod:`pyqml.templates` with a ``shape`` helper, or a callable
        ``ansatz(weights, wires)`` with ``weight_shape=``.
    n_layers : int
        Layers (``reps`` for the Qiskit-style templates).
    loss : {"mmd", "kl"}
    bandwidths, metric
        The MMD kernel (:class:`MMDLoss`).
    optimizer : "adam" or a scipy method name ("L-BFGS-B", ...) or a pyqml optimiser instance
    stepsize : float
        Adam's step size.
    epochs : int
        Optimiser steps (scipy: maximum iterations).
    shots : int or None
        None: exact probabilities and gradients. N: loss and gradients estimated from N samples per
        circuit (MMD only).
    method : str
        Simulation method for probabilities and samples ("auto": state vector for small registers).
    random_state : int or None
        Seeds the initial weights and every shot.
    weight_shape : tuple, optional
        For a custom callable ansatz.

    Attributes (after ``fit``)
    --------------------------
    weights_ : ndarray
    loss_history_ : list of float
        The training loss at each step (exact, or the sampled estimate with shots).
    kl_history_ : list of float
        Exact KL(target || model) at each step (registers of at most :data:`ENUMERATE_MAX_WIRES` qubits).
    target_ : ndarray
        The empirical distribution of the training samples (2^n).
    """

    def __init__(self, n_qubits: int, ansatz="strongly_entangling", n_layers: int = 2, loss: str = "mmd",
                 bandwidths=(0.25, 4.0), metric: str = "integer", optimizer="adam", stepsize: float = 0.1,
                 epochs: int = 100, shots: int | None = None, method: str = "auto", random_state=None,
                 weight_shape=None):
        if isinstance(n_qubits, bool) or not isinstance(n_qubits, (numbers.Integral, np.integer)) or n_qubits < 1:
            raise ValueError(f"n_qubits must be a positive integer, got {n_qubits!r}")
        if loss not in ("mmd", "kl"):
            raise ValueError(f"loss must be 'mmd' or 'kl', got {loss!r}")
        if isinstance(n_layers, bool) or not isinstance(n_layers, (numbers.Integral, np.integer)) or n_layers < 1:
            raise ValueError(f"n_layers must be a positive integer, got {n_layers!r}")
        self.n_qubits = int(n_qubits)
        self.shots = None if shots is None else shot_mod.check_shots(shots)[0]
        if loss == "kl":
            _check_enumerable(self.n_qubits, "loss='kl'")
            if self.shots is not None:
                raise ValueError("loss='kl' is exact only (log p of unseen outcomes has no sampled estimate); "
                                 "use loss='mmd' with shots")
        self.ansatz = ansatz
        self.n_layers = int(n_layers)
        self.loss = loss
        self.mmd = MMDLoss(self.n_qubits, bandwidths, metric)
        self.optimizer = optimizer
        self.stepsize = stepsize
        self.epochs = int(epochs)
        self.method = method
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        self.circuit = self._build(weight_shape)
        self.weights_ = self._initial_weights()
        self.loss_history_: list[float] = []
        self.kl_history_: list[float] = []
        self.target_ = None
        self._target_samples = None
        self._walsh_ex = None

    # --- construction ---
    def _build(self, weight_shape) -> Circuit:
        n, L = self.n_qubits, self.n_layers
        fn = _ANSATZE.get(self.ansatz, self.ansatz) if isinstance(self.ansatz, str) else self.ansatz
        if isinstance(fn, str) or not callable(fn):
            raise ValueError(f"ansatz must be one of {sorted(_ANSATZE)}, a template or a callable, got {self.ansatz!r}")
        wires = list(range(n))
        if weight_shape is not None:
            shape, call = tuple(int(s) for s in np.atleast_1d(weight_shape)), (lambda w: fn(w, wires))
        elif fn in _REPS_TEMPLATES:
            shape, call = fn.shape(n, reps=L), (lambda w: fn(w, wires, reps=L))
        elif hasattr(fn, "shape"):
            shape = fn.shape(L, n)
            if isinstance(shape, list):
                raise ValueError(f"{getattr(fn, '__name__', fn)} takes several weight arrays; wrap it in a "
                                 "callable ansatz(weights, wires) with weight_shape=")
            call = lambda w: fn(w, wires)  # noqa: E731
        else:
            raise ValueError("a callable ansatz needs weight_shape=")
        c = Circuit(n)
        w = c.new_weights(*shape)
        with c:
            call(w)
        self.weight_shape = tuple(shape)
        return c

    def _initial_weights(self) -> np.ndarray:
        return self._rng.uniform(-np.pi, np.pi, self.circuit.n_weights)

    # --- distributions ---
    def probabilities(self, weights=None) -> np.ndarray:
        """Exact ``p_theta`` over the 2^n outcomes (integer index, first qubit most significant)."""
        _check_enumerable(self.n_qubits, "probabilities()")
        w = self.weights_ if weights is None else np.asarray(weights, dtype=float)
        return self._batch_probs(self.circuit, w)[0]

    def _batch_probs(self, circuit, weights) -> np.ndarray:
        """(rows, 2^n) probabilities for weights (n_w,) or (rows, n_w), one engine call."""
        method = "statevector" if self.method == "auto" and self.n_qubits <= _core.SV_MAX_WIRES else self.method
        wires = list(range(self.n_qubits))
        ex = shot_mod.measurement_executor(circuit, method, "complex128", {}, "probs", wires, None)
        return np.asarray(ex.probs(np.asarray(weights, dtype=float), None, wires))

    def sample(self, n: int, seed=None) -> np.ndarray:
        """``n`` bit strings (n, n_qubits) of 0/1 drawn from the model (the method's sampler)."""
        if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        seed = int(self._rng.integers(2**63)) if seed is None else seed
        return np.asarray(_sample(self.circuit, list(range(self.n_qubits)), shots=int(n), seed=seed,
                                  weights=self.weights_, method=self.method))

    def log_likelihood(self, samples) -> float:
        """Mean ``log p_theta(x)`` over the samples (exact probabilities; -inf if one has probability 0)."""
        x = _as_outcomes(samples, self.n_qubits)
        p = self.probabilities()
        with np.errstate(divide="ignore"):
            return float(np.mean(np.log(p[x])))

    def kl(self, target=None) -> float:
        """Exact KL(target || model); ``target`` defaults to the training distribution."""
        t = self.target_ if target is None else np.asarray(target, dtype=float)
        if t is None:
            raise ValueError("no target: fit the model or pass target=")
        return kl_divergence(t, self.probabilities())

    # --- losses and exact gradients ---
    def loss_value(self, weights=None) -> float:
        """The exact training loss at ``weights`` (default: the current ones)."""
        self._need_target()
        p = self.probabilities(weights)
        return self.mmd(p, self.target_) if self.loss == "mmd" else kl_divergence(self.target_, p)

    def _need_target(self):
        if self.target_ is None:
            raise ValueError("the model has no training data: call fit(samples) first or set_target(samples)")

    def set_target(self, samples) -> None:
        """Use these samples' empirical distribution as the target (``fit`` calls it)."""
        x = _as_outcomes(samples, self.n_qubits)
        self._target_samples = x
        if self.n_qubits <= ENUMERATE_MAX_WIRES:
            self.target_ = np.bincount(x, minlength=2**self.n_qubits) / x.size
        else:
            self.target_ = None

    def _dloss_dp(self, p):
        if self.loss == "mmd":
            return self.mmd.grad_p(p, self.target_)
        t = self.target_
        return np.where(t > 0, -t / np.maximum(p, 1e-12), 0.0)

    def gradient_route(self) -> str:
        """The exact route ``value_and_grad`` takes: "walsh-adjoint" or "parameter-shift" (fewer operations)."""
        n = self.n_qubits
        gates = max(len(self.circuit.ops), 1)
        walsh = 4.0**n + 3.0 * gates * 2.0**n
        n_shift = sum(1 for k in gradients.angle_map(self.circuit)[0] if k != CONST)
        shift = (2.0 * n_shift + 1) * gates * 2.0**n
        return "walsh-adjoint" if walsh <= shift and n <= 14 else "parameter-shift"

    def _walsh_executor(self):
        if self._walsh_ex is None:
            n = self.n_qubits
            obs = []
            for s in range(2**n):
                word = tuple((q, "Z") for q in range(n) if (s >> (n - 1 - q)) & 1)
                obs.append(Observable({word: 1.0}))
            self._walsh_ex = self.circuit.executor(obs, "statevector", "complex128", "vjp")
        return self._walsh_ex

    def value_and_grad(self, weights=None) -> tuple[float, np.ndarray]:
        """Exact loss and its gradient with respect to the flat weights."""
        self._need_target()
        w = self.weights_ if weights is None else np.asarray(weights, dtype=float)
        n = self.n_qubits
        if self.gradient_route() == "walsh-adjoint":
            p = self.probabilities(w)
            g = self._dloss_dp(p)
            cot = _walsh(g)[None, :] / 2**n
            _, dw, _ = self._walsh_executor().vjp(w, None, cot)
        else:
            p, dp = self.probability_jacobian(w)
            g = self._dloss_dp(p)
            dw = g @ dp
        val = self.mmd(p, self.target_) if self.loss == "mmd" else kl_divergence(self.target_, p)
        return val, np.asarray(dw, dtype=float).reshape(-1)

    def probability_jacobian(self, weights=None) -> tuple[np.ndarray, np.ndarray]:
        """``p`` (2^n,) and ``dp/dweights`` (2^n, n_weights) by the gates' shift rules, every shifted
        circuit a row of one batched probabilities call."""
        _check_enumerable(self.n_qubits, "probability_jacobian()")
        w = self.weights_ if weights is None else np.asarray(weights, dtype=float)
        angles, plan = self._shift_plan(w)
        ac = shot_mod.angle_circuit(self.circuit)
        batch = self._shifted(angles, plan)
        P = self._batch_probs(ac, batch)
        d_angles = np.zeros((2**self.n_qubits, angles.size))
        for j, (a, c, _) in enumerate(plan):
            d_angles[:, a] += c * P[j + 1]
        dw, _ = gradients.chain_angles(self.circuit, d_angles[None, :, :])
        return P[0], dw[0]

    def _shift_plan(self, w):
        return self.circuit.core.bind(w, None)[0], shot_mod.shift_plan(self.circuit)

    @staticmethod
    def _shifted(angles, plan) -> np.ndarray:
        batch = np.repeat(angles[None, :], len(plan) + 1, axis=0)
        for j, (a, _, s) in enumerate(plan):
            batch[j + 1, a] += s
        return batch

    # --- sampled loss and gradient (finite shots) ---
    def sampled_value_and_grad(self, weights=None, shots: int | None = None, rng=None) -> tuple[float, np.ndarray]:
        """MMD^2 and its gradient estimated from ``shots`` samples of the model and of every shifted circuit
        (Liu & Wang's unbiased estimator with each gate's shift rule)."""
        if self.loss != "mmd":
            raise ValueError("sampled gradients are defined for loss='mmd'")
        if self._target_samples is None:
            raise ValueError("the model has no training data: call fit(samples) first or set_target(samples)")
        shots = self.shots if shots is None else shot_mod.check_shots(shots)[0]
        if shots is None:
            raise ValueError("sampled_value_and_grad needs shots=")
        rng = self._rng if rng is None else shot_mod.as_rng(rng)
        w = self.weights_ if weights is None else np.asarray(weights, dtype=float)
        n = self.n_qubits
        angles, plan = self._shift_plan(w)
        ac = shot_mod.angle_circuit(self.circuit)
        batch = self._shifted(angles, plan)
        batch = np.vstack([batch[:1], batch])  # two independent draws at theta (unbiased MMD^2 and gradient)
        wires = list(range(n))
        y = self._target_samples
        if n <= shot_mod.PROBS_MAX_WIRES:
            cnt = shot_mod.counts(ac, wires, batch, None, shots, rng, self.method) / shots     # (rows, 2^n)
            K = self.mmd.matrix
            q0, q0b, qs = cnt[0], cnt[1], cnt[2:]
            pi_hat = self.target_
            k_model_data = qs @ (K @ pi_hat)
            k_model_model = qs @ (K @ q0)
            val = float(q0 @ K @ q0b - 2 * q0 @ K @ pi_hat) + self._kyy()
        else:
            bits = shot_mod.bit_samples(ac, wires, batch, None, shots, rng, self.method)
            xs = bits_to_int(bits)                                                   # (rows, shots)
            k_model_data = np.array([self.mmd.kernel(x, y).mean() for x in xs[2:]])
            k_model_model = np.array([self.mmd.kernel(x, xs[0]).mean() for x in xs[2:]])
            val = self.mmd.sampled(xs[0], y, xs[1])
        d_angles = np.zeros((1, 1, angles.size))
        for j, (a, c, _) in enumerate(plan):
            d_angles[0, 0, a] += 2 * c * (k_model_model[j] - k_model_data[j])
        dw, _ = gradients.chain_angles(self.circuit, d_angles)
        return val, dw[0, 0]

    def _kyy(self) -> float:
        return float(self.target_ @ self.mmd.matrix @ self.target_)

    # --- training ---
    def fit(self, samples, epochs: int | None = None, callback=None) -> QCBM:
        """Train on samples ((N, n) bit strings or (N,) integers); returns self."""
        self.set_target(samples)
        if self.shots is None and self.target_ is None:
            raise ValueError(f"exact training enumerates 2^{self.n_qubits} outcomes; pass shots= for wider models")
        epochs = self.epochs if epochs is None else int(epochs)
        track_kl = self.n_qubits <= ENUMERATE_MAX_WIRES

        def vg(w):
            return self.value_and_grad(w) if self.shots is None else self.sampled_value_and_grad(w)

        def record(w, val):
            self.loss_history_.append(float(val))
            if track_kl:
                self.kl_history_.append(kl_divergence(self.target_, self.probabilities(w)))
            if callback is not None:
                callback(self, len(self.loss_history_))

        opt = self.optimizer
        if isinstance(opt, str) and opt.lower() != "adam":
            from scipy.optimize import minimize

            def fun(w):
                v, g = vg(w)
                return v, g

            res = minimize(fun, self.weights_, jac=True, method=opt, options={"maxiter": epochs},
                           callback=lambda w: record(w, self.loss_value(w) if self.shots is None else vg(w)[0]))
            self.weights_ = np.asarray(res.x, dtype=float)
            return self
        if isinstance(opt, str):
            opt = AdamOptimizer(self.stepsize)
        w = self.weights_.copy()
        for _ in range(epochs):
            val, g = vg(w)
            w = np.asarray(opt.step(lambda v: 0.0, w, grad_fn=lambda v, g=g: g), dtype=float)
            self.weights_ = w
            record(w, val)
        return self


# --- data sets ---
def bars_and_stripes(rows: int = 3, cols: int = 3) -> np.ndarray:
    """Every bars-and-stripes image of ``rows x cols`` pixels as bit strings (k, rows*cols), row-major:
    each row all 0 or all 1 (stripes), or each column all 0 or all 1 (bars); the empty and full images once."""
    out = set()
    for m in range(2**rows):
        img = np.repeat(((m >> np.arange(rows)) & 1)[:, None], cols, axis=1)
        out.add(tuple(img.ravel()))
    for m in range(2**cols):
        img = np.repeat(((m >> np.arange(cols)) & 1)[None, :], rows, axis=0)
        out.add(tuple(img.ravel()))
    return np.array(sorted(out), dtype=np.int8)


def discretized_gaussian_mixture(n_qubits: int, centers=(0.3, 0.7), widths=(0.08, 0.08),
                                 weights=(0.5, 0.5)) -> np.ndarray:
    """A mixture of Gaussians on [0, 1] discretised to the 2^n outcomes (normalised probabilities)."""
    x = (np.arange(2**n_qubits) + 0.5) / 2**n_qubits
    p = sum(wt * np.exp(-0.5 * ((x - c) / s) ** 2) for c, s, wt in zip(centers, widths, weights))
    return p / p.sum()
