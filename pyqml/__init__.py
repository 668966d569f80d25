"""pyqml: quantum circuits for machine learning, simulated by a C++ engine (state vector and tensor
network) with exact batched gradients."""
from __future__ import annotations

import os as _os

# Idle OpenMP workers sleep instead of spinning: batches are one parallel region per call, and spinning
# workers stall everything when the machine's cores are shared with other processes. Read once, when the
# OpenMP runtime loads; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import _core  # noqa: E402
from ._core import MemoryLimitError, get_num_threads, memory_limit, set_memory_limit, set_num_threads  # noqa: E402
from .circuit import Circuit
from .measurements import Measurement, expval, jacobian, probs, sample, state, var
from .observables import Hamiltonian, Observable
from .ops import (CH, CNOT, CRX, CRY, CRZ, CSWAP, CY, CZ, GATES, H, I, ISWAP, RX, RY, RZ, S, SWAP, SX, T, U3, X,
                  Y, Z, ControlledPhaseShift, CPhase, CRot, Hadamard, Identity, IsingXX, IsingYY, IsingZZ,
                  MultiRZ, Operation, PauliX, PauliY, PauliZ, PhaseShift, QubitUnitary, Rot, Sdg, SXdg, Tdg,
                  Toffoli, gate_matrix)
from .qasm import QASMError  # noqa: E402
from .qnode import QNode, qnode
from .tensornet import plan

__version__ = "0.1.0"

from .templates import *  # noqa: F401,F403,E402
from .optimizers import (AdagradOptimizer, AdamOptimizer, GradientDescentOptimizer,  # noqa: E402
                         MomentumOptimizer, NesterovMomentumOptimizer, QNGOptimizer, RMSPropOptimizer,
                         RotosolveOptimizer, ScipyOptimizer, SPSAOptimizer, metric_tensor)
from . import datasets, models  # noqa: E402,F401
from . import studies  # noqa: E402,F401
