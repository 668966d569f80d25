"""Reading circuits written by other tools: OpenQASM 2.0 (:mod:`pyqml.io.qasm`)."""
from .qasm import QASMError, circuit_from_qasm

__all__ = ["QASMError", "circuit_from_qasm"]
