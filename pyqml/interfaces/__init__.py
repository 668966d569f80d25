"""Bridges to other frameworks: :mod:`pyqml.interfaces.torch` (``TorchLayer``, a ``torch.autograd.Function``
over the qnode's batched VJP) and :mod:`pyqml.interfaces.jax` (``to_jax``, a ``jax.custom_vjp`` function).
Each needs its framework installed (``pip install 'pyqml[torch]'`` / ``'pyqml[jax]'``)."""
