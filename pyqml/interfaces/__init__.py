"""Bridges to other frameworks: :mod:`pyqml.interfaces.torch` (``TorchLayer``, a ``torch.autograd.Function``
over the qnode's batched VJP), :mod:`pyqml.interfaces.jax` (``to_jax``, a ``jax.custom_vjp`` function),
:mod:`pyqml.interfaces.pennylane` (the PennyLane device ``qml.device("pyqml.qubit", wires=n)``) and
:mod:`pyqml.interfaces.qiskit` (``import pyqml.qiskit``: Qiskit V2 primitives, an adjoint gradient and a
fidelity for Qiskit Machine Learning). Each needs its framework installed (``pip install 'pyqml[torch]'`` /
``'pyqml[jax]'`` / ``'pyqml[pennylane]'`` / ``'pyqml[qiskit]'``)."""
