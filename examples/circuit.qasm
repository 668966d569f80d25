OPENQASM 2.0;
include "qelib1.inc";
// A 4-qubit layered circuit: rotations, an entangling ladder and a ZZ interaction written as Qiskit exports it.
qreg q[4];
h q;
ry(0.31) q[0];
ry(-0.72) q[1];
rx(1.05) q[2];
rz(0.44) q[3];
cx q[0], q[1];
cx q[1], q[2];
cx q[2], q[3];
cx q[0], q[3];
rz(0.58) q[3];
cx q[0], q[3];
u3(0.2, -0.4, 0.9) q[1];
ry(0.37) q[2];
