"""Generates tests/data/qng_reference.json: PennyLane 0.45 metric_tensor(approx="block-diag") and one
QNGOptimizer(stepsize=0.1) step for a 3-qubit circuit. Run once with PennyLane installed."""
import json

import numpy as np
import pennylane as qml
from pennylane import numpy as pnp

dev=qml.device('default.qubit',wires=3)
@qml.qnode(dev)
def circ(w):
    qml.RY(w[0],wires=0); qml.RX(w[1],wires=1); qml.RY(w[2],wires=2)
    qml.CNOT(wires=[0,1]); qml.CNOT(wires=[1,2])
    qml.RX(w[3],wires=0); qml.RZ(w[4],wires=1); qml.RY(w[5],wires=2)
    qml.CNOT(wires=[2,0])
    qml.RY(w[6],wires=0); qml.RX(w[7],wires=1)
    return qml.expval(qml.PauliZ(0)@qml.PauliZ(2))
w=pnp.array([0.3,-0.7,1.1,0.4,0.9,-1.3,0.2,0.5],requires_grad=True)
mt=qml.metric_tensor(circ, approx='block-diag')(w)
opt=qml.QNGOptimizer(stepsize=0.1)
w1=opt.step(circ,w)
with open("tests/data/qng_reference.json", "w") as fh:
    json.dump({"weights":w.tolist(),"metric_tensor":np.asarray(mt).tolist(),"qng_step_0.1":np.asarray(w1).tolist()}, fh, indent=1)
