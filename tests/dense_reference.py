"""An independent dense reference: gate matrices written from PennyLane's documented conventions and a plain
numpy state-vector simulator. Nothing here calls the engine, so tests can compare the two.

Conventions: wire 0 is the most significant bit; a gate's first wire is the most significant bit of its
matrix index; controls come first.
"""
from __future__ import annotations

import numpy as np

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.array([[1, 0], [0, -1]], dtype=complex)
H = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
PAULI = {"I": I2, "X": X, "Y": Y, "Z": Z}


def expm_herm(G: np.ndarray, t: float) -> np.ndarray:
    """exp(-i t G / 2) for a Hermitian G, by eigendecomposition (no closed form assumed)."""
    w, V = np.linalg.eigh(G)
    return (V * np.exp(-0.5j * t * w)) @ V.conj().T


def kron(*ms) -> np.ndarray:
    out = np.array([[1.0 + 0j]])
    for m in ms:
        out = np.kron(out, m)
    return out


def controlled(U: np.ndarray, n_controls: int = 1) -> np.ndarray:
    """|1..1><1..1| (x) U + (1 - |1..1><1..1|) (x) 1, controls first."""
    d = U.shape[0]
    dim = d << n_controls
    M = np.eye(dim, dtype=complex)
    M[dim - d:, dim - d:] = U
    return M


def rx(t): return expm_herm(X, t)
def ry(t): return expm_herm(Y, t)
def rz(t): return expm_herm(Z, t)
def phase(t): return np.diag([1, np.exp(1j * t)])


def rot(phi, theta, omega):
    return rz(omega) @ ry(theta) @ rz(phi)


def u3(theta, phi, delta):
    # PennyLane's U3 = e^{i(phi+delta)/2} RZ(phi) RY(theta) RZ(delta)
    return np.exp(0.5j * (phi + delta)) * rz(phi) @ ry(theta) @ rz(delta)


SWAP = np.eye(4, dtype=complex)[[0, 2, 1, 3]]


def multirz(t, k):
    # Z (x) ... (x) Z is diagonal: exponentiate its diagonal (an eigendecomposition of 2^k x 2^k is slow)
    z = np.array([1.0])
    for _ in range(k):
        z = np.kron(z, [1.0, -1.0])
    return np.diag(np.exp(-0.5j * t * z))


FIXED = {
    "Identity": I2, "Hadamard": H, "PauliX": X, "PauliY": Y, "PauliZ": Z,
    "S": np.diag([1, 1j]), "Sdg": np.diag([1, -1j]),
    "T": np.diag([1, np.exp(1j * np.pi / 4)]), "Tdg": np.diag([1, np.exp(-1j * np.pi / 4)]),
    # SX = sqrt(X) with eigenvalues 1 (on |+>) and i (on |->)
    "SX": 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]),
    "SXdg": 0.5 * np.array([[1 - 1j, 1 + 1j], [1 + 1j, 1 - 1j]]),
    "CNOT": controlled(X), "CY": controlled(Y), "CZ": controlled(Z), "CH": controlled(H),
    "SWAP": SWAP,
    # ISWAP: |01> -> i|10>, |10> -> i|01>
    "ISWAP": np.array([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]]),
    "Toffoli": controlled(X, 2), "CSWAP": controlled(SWAP, 1),
}

PARAMETRIC = {
    "RX": (1, lambda p: rx(p[0])),
    "RY": (1, lambda p: ry(p[0])),
    "RZ": (1, lambda p: rz(p[0])),
    "PhaseShift": (1, lambda p: phase(p[0])),
    "Rot": (3, lambda p: rot(*p)),
    "U3": (3, lambda p: u3(*p)),
    "CRX": (1, lambda p: controlled(rx(p[0]))),
    "CRY": (1, lambda p: controlled(ry(p[0]))),
    "CRZ": (1, lambda p: controlled(rz(p[0]))),
    "CRot": (3, lambda p: controlled(rot(*p))),
    "ControlledPhaseShift": (1, lambda p: controlled(phase(p[0]))),
    "IsingXX": (1, lambda p: expm_herm(kron(X, X), p[0])),
    "IsingYY": (1, lambda p: expm_herm(kron(Y, Y), p[0])),
    "IsingZZ": (1, lambda p: expm_herm(kron(Z, Z), p[0])),
}


def gate_matrix(name: str, params=(), n_wires: int | None = None) -> np.ndarray:
    """The reference matrix of a pyqml gate."""
    if name in FIXED:
        return FIXED[name].astype(complex)
    if name == "MultiRZ":
        return multirz(params[0], n_wires)
    n, f = PARAMETRIC[name]
    assert len(params) == n
    return f(list(params)).astype(complex)


def apply(state: np.ndarray, M: np.ndarray, wires, n: int) -> np.ndarray:
    """M (2^k x 2^k) applied to the given wires of a state of n wires (flat, length 2^n)."""
    k = len(wires)
    psi = state.reshape((2,) * n)
    T = M.reshape((2,) * (2 * k))
    out = np.tensordot(T, psi, axes=(list(range(k, 2 * k)), list(wires)))
    # tensordot puts the gate's output axes first; move them back to their wires
    out = np.moveaxis(out, list(range(k)), list(wires))
    return out.reshape(-1)


def simulate(n: int, gates, state: np.ndarray | None = None) -> np.ndarray:
    """gates: iterable of (matrix, wires). Starts from |0...0> unless a state is given."""
    if state is None:
        state = np.zeros(2**n, dtype=complex)
        state[0] = 1
    for M, ws in gates:
        state = apply(state, M, ws, n)
    return state


def full_operator(M: np.ndarray, wires, n: int) -> np.ndarray:
    """The 2^n x 2^n operator of M on the given wires (column by column through apply)."""
    dim = 2**n
    out = np.empty((dim, dim), dtype=complex)
    for j in range(dim):
        e = np.zeros(dim, dtype=complex)
        e[j] = 1
        out[:, j] = apply(e, M, wires, n)
    return out


def pauli_matrix(terms, n: int) -> np.ndarray:
    """sum_k c_k P_k for terms [(c, {wire: letter})]."""
    out = np.zeros((2**n, 2**n), dtype=complex)
    for c, word in terms:
        out += c * kron(*[PAULI[word.get(w, "I")] for w in range(n)])
    return out


def probs(state: np.ndarray, wires, n: int) -> np.ndarray:
    """Marginal probabilities of the given wires, in the order given (first = most significant)."""
    p = (np.abs(state) ** 2).reshape((2,) * n)
    others = tuple(w for w in range(n) if w not in wires)
    p = p.sum(axis=others) if others else p
    # remaining axes are in increasing wire order; permute to the requested order
    order = sorted(wires)
    p = np.transpose(p, [order.index(w) for w in wires])
    return p.reshape(-1)


def random_unitary(dim: int, rng: np.random.Generator) -> np.ndarray:
    A = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    Q, R = np.linalg.qr(A)
    return Q * (np.diag(R) / np.abs(np.diag(R)))


def seed_of(*parts) -> int:
    """A deterministic seed from labels (Python's hash() of strings changes between runs)."""
    import zlib

    return zlib.crc32(repr(parts).encode())


def pauli_apply(terms, state: np.ndarray, n: int) -> np.ndarray:
    """(sum_k c_k P_k) |state> for terms [(c, {wire: letter})], without forming the 2^n x 2^n matrix."""
    out = np.zeros_like(state, dtype=complex)
    for c, word in terms:
        v = state.astype(complex)
        for w, letter in word.items():
            v = apply(v, PAULI[letter], [w], n)
        out += c * v
    return out


def expval_var(terms, state: np.ndarray, n: int) -> tuple[float, float]:
    """<O> and <O^2> - <O>^2 of a Pauli sum in a normalised state."""
    o = pauli_apply(terms, state, n)
    e = np.vdot(state, o).real
    return e, np.vdot(o, o).real - e**2
