"""PyTorch interface: a qnode as a ``torch.nn.Module`` whose backward pass is pyqml's batched VJP.

>>> layer = TorchLayer(qnode, {"weights": (2, 4, 3)})
>>> model = torch.nn.Sequential(layer, torch.nn.Linear(4, 3))

The forward pass is one engine call for the whole batch; the backward pass one VJP call returning the
gradients of the weights (summed over the batch) and of the inputs. Computation is in float64 on the CPU;
results are cast back to the inputs' dtype and device.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

try:
    import torch
except ImportError as e:  # pragma: no cover
    raise ImportError("pyqml.interfaces.torch needs PyTorch: pip install 'pyqml[torch]'") from e

from ..qnode import QNode

__all__ = ["TorchLayer", "execute"]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


class _QNodeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qnode, names, inputs, *weights):
        x = _np(inputs)
        ws = [_np(w) for w in weights]
        vals = np.asarray(qnode(x, **dict(zip(names, ws))), dtype=float)
        ctx.qnode, ctx.names, ctx.x, ctx.ws = qnode, names, x, ws
        ctx.meta = (inputs.dtype, inputs.device, [(w.dtype, w.device) for w in weights])
        return torch.as_tensor(vals, dtype=inputs.dtype, device=inputs.device)

    @staticmethod
    def backward(ctx, grad_out):
        qnode = ctx.qnode
        _, dw, dx = qnode.vjp(ctx.x, cotangent=_np(grad_out), **dict(zip(ctx.names, ctx.ws)))
        dws = dw if isinstance(dw, tuple) else (dw,)
        in_dtype, in_device, w_meta = ctx.meta
        gx = torch.as_tensor(np.asarray(dx), dtype=in_dtype, device=in_device) if ctx.needs_input_grad[2] else None
        gws = [torch.as_tensor(np.asarray(d), dtype=dt, device=dev) for d, (dt, dev) in zip(dws, w_meta)]
        return (None, None, gx, *gws)


def execute(qnode: QNode, inputs: torch.Tensor, **weights: torch.Tensor) -> torch.Tensor:
    """``qnode(inputs, **weights)`` as a differentiable torch operation."""
    if not isinstance(qnode, QNode):
        raise TypeError(f"expected a pq.qnode, got {type(qnode).__name__}")
    names = list(weights)
    return _QNodeFunction.apply(qnode, names, inputs, *[weights[n] for n in names])


class TorchLayer(torch.nn.Module):
    """A qnode ``f(inputs, **weights)`` as a torch layer with trainable weights (PennyLane's signature).

    Parameters
    ----------
    qnode : QNode
    weight_shapes : dict
        ``{name: shape}`` for every weight argument of the qnode.
    init_method : callable, optional
        ``init_method(tensor)`` in place (a ``torch.nn.init`` function); default uniform in [0, 2 pi).
    """

    def __init__(self, qnode: QNode, weight_shapes: dict, init_method: Callable | None = None):
        super().__init__()
        if not isinstance(qnode, QNode):
            raise TypeError(f"TorchLayer needs a pq.qnode, got {type(qnode).__name__}")
        names = [n for n in qnode._names if n != "inputs"]
        if "inputs" not in qnode._names:
            raise ValueError("the qnode of a TorchLayer must take an argument named 'inputs'")
        if sorted(names) != sorted(weight_shapes):
            raise ValueError(f"weight_shapes names {sorted(weight_shapes)} do not match the qnode's weight "
                             f"arguments {names}")
        self.qnode = qnode
        self.names = names
        for n in names:
            shape = tuple(np.atleast_1d(weight_shapes[n]).tolist())
            t = torch.empty(shape, dtype=torch.float64)
            if init_method is None:
                torch.nn.init.uniform_(t, 0.0, 2 * math.pi)
            else:
                init_method(t)
            self.register_parameter(n, torch.nn.Parameter(t))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return execute(self.qnode, inputs, **{n: getattr(self, n) for n in self.names})
