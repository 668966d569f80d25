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

from ..frontend.qnode import QNode

__all__ = ["TorchLayer", "execute"]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


class _QNodeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qnode, names, inputs, *weights):
        x = _np(inputs)
        x2 = np.atleast_2d(x)
        cq = qnode.compile([tuple(w.shape) for w in weights] if names == qnode.weight_names else
                           {n: tuple(w.shape) for n, w in zip(names, weights)}, x2.shape[1])
        w = cq.pack(dict(zip(names, [_np(t) for t in weights])))
        vals = cq.expval(w, x2).reshape(cq.output_shape(x2.shape[0] if x.ndim == 2 else None))
        ctx.cq, ctx.x, ctx.w, ctx.unbatched = cq, x2, w, x.ndim == 1
        ctx.order = [cq.weight_names.index(n) for n in names]
        ctx.meta = (inputs.dtype, inputs.device, [(t.dtype, t.device) for t in weights])
        return torch.as_tensor(vals, dtype=inputs.dtype, device=inputs.device)

    @staticmethod
    def backward(ctx, grad_out):
        cq = ctx.cq
        cot = _np(grad_out).reshape(ctx.x.shape[0], cq.n_outputs)
        _, dw, dx = cq.vjp(ctx.w, ctx.x, cot)
        parts = cq.unpack(dw)
        dws = [parts[i] for i in ctx.order]
        in_dtype, in_device, w_meta = ctx.meta
        if ctx.unbatched:
            dx = dx[0]
        gx = torch.as_tensor(np.asarray(dx), dtype=in_dtype, device=in_device) if ctx.needs_input_grad[2] else None
        gws = [torch.as_tensor(np.asarray(d), dtype=dt, device=dev) for d, (dt, dev) in zip(dws, w_meta)]
        return (None, None, gx, *gws)


def execute(qnode: QNode, inputs: torch.Tensor, **weights: torch.Tensor) -> torch.Tensor:
    """``qnode(inputs, **weights)`` as a differentiable torch operation."""
    if not isinstance(qnode, QNode):
        raise TypeError(f"expected a pq.qnode, got {type(qnode).__name__}")
    if not qnode.takes_inputs:
        raise ValueError("the qnode must take an argument named 'inputs'")
    names = list(weights)
    if sorted(names) != sorted(qnode.weight_names):
        raise ValueError(f"weights {sorted(names)} do not match the qnode's weight arguments {qnode.weight_names}")
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
        names = qnode.weight_names
        if not qnode.takes_inputs:
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
