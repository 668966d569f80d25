"""What every build says about the GPU path: a CPU-only build, or a CUDA build on a machine without a GPU,
reports the CUDA path unavailable with the reason, and device="gpu" fails with an error naming what is
missing (never a silent run on the CPU). These run everywhere."""
import pytest

import pyqml as pq
from pyqml import _core
from pyqml.statevector.executor import parse_device


def _circuit(n=2):
    return pq.Circuit(n, [pq.H(wires=0), pq.CNOT(wires=[0, 1]), pq.RY(0.3, wires=n - 1)])


def test_status_calls_agree():
    why = _core.cuda_unavailable_reason()
    assert pq.cuda_available() == _core.cuda_available()
    if not _core.CUDA_BUILT:
        assert not pq.cuda_available()
        assert "built without CUDA" in why and "PYQML_CUDA=ON" in why
        assert _core.cuda_device_count() == 0
        assert not hasattr(_core, "GpuStateVector")
    elif not _core.cuda_available():
        assert why.startswith("no usable CUDA device") or why == "no CUDA device found"
        assert _core.cuda_device_count() == 0
        assert hasattr(_core, "GpuStateVector")
    else:
        assert why == "" and _core.cuda_device_count() >= 1


def test_device_names_parse():
    assert parse_device("cpu") is None and parse_device(None) is None
    assert parse_device("gpu") == 0 and parse_device("cuda") == 0 and parse_device("CUDA:3") == 3
    for bad in ("tpu", "cuda:", "cuda:x", 0, "gpu0"):
        with pytest.raises(ValueError, match="device must be 'cpu', 'gpu', 'cuda' or 'cuda:N'"):
            parse_device(bad)
    with pytest.raises(ValueError, match="device must be"):
        pq.expval(_circuit(), pq.Z(1), device="tpu")


def test_cpu_device_is_the_cpu_engine():
    c = _circuit()
    a = pq.expval(c, pq.Z(1), device="cpu")
    b = pq.expval(c, pq.Z(1))
    # Wire 1 of a Bell pair is maximally mixed whatever RY does to it: <Z1> = 0.
    assert abs(a - b) < 1e-15 and abs(a) < 1e-12
    ex = c.executor([pq.Z(1)], "statevector", device="cpu")
    assert ex.device == "cpu" and type(ex._sim) is _core.StateVector


@pytest.mark.skipif(_core.cuda_available(), reason="a GPU is present")
@pytest.mark.parametrize("n", [2, 20])
@pytest.mark.parametrize("method", ["auto", "statevector"])
def test_gpu_without_build_or_device_names_what_is_missing(n, method):
    # 20 wires under "auto" could go to the tensor network: device="gpu" must not fall back to the CPU.
    c = _circuit(n)
    with pytest.raises(pq.DeviceUnavailableError) as e:
        pq.expval(c, pq.Z(1), method=method, device="gpu")
    msg = str(e.value)
    if _core.CUDA_BUILT:
        assert "this CUDA build of pyqml finds no usable GPU" in msg
    else:
        assert "needs a CUDA build of pyqml" in msg and "PYQML_CUDA=OFF" in msg
    with pytest.raises(pq.DeviceUnavailableError):
        c.executor([pq.Z(0)], "statevector", measurement="jacobian", device="cuda:0")


@pytest.mark.skipif(_core.cuda_available(), reason="a GPU is present")
@pytest.mark.parametrize("device", ["gpu", "cuda:0"])
def test_the_tensor_network_on_a_gpu_names_what_is_missing(device):
    # The same error, naming the same missing part, as the state vector's; raised before any planning.
    from pyqml.tensornet.executor import TensorNetExecutor

    c = _circuit(3)
    with pytest.raises(pq.DeviceUnavailableError) as sv:
        pq.expval(c, pq.Z(1), method="statevector", device=device)
    with pytest.raises(pq.DeviceUnavailableError) as tn:
        pq.expval(c, pq.Z(1), method="tensornet", device=device)
    assert str(tn.value) == str(sv.value)
    assert ("needs a CUDA build of pyqml" if not _core.CUDA_BUILT else "finds no usable GPU") in str(tn.value)
    with pytest.raises(pq.DeviceUnavailableError, match="needs a CUDA build|finds no usable GPU"):
        c.executor([pq.Z(0) @ pq.Z(1)], "tensornet", measurement="jacobian", device=device)
    est = TensorNetExecutor.estimate(c, [pq.Z(1)], "expval", "complex128", device=device)
    assert not est.feasible and est.reason == str(sv.value)


def test_the_tensor_network_on_the_cpu_device_is_the_cpu_engine():
    c = _circuit(3)
    ex = c.executor([pq.Z(1) @ pq.Z(2)], "tensornet", device="cpu")
    assert ex.device == "cpu" and ex._gpu is None and ex._engine is ex._tn
    ref = c.executor([pq.Z(1) @ pq.Z(2)], "tensornet")
    assert abs(ex.expval([])[0, 0] - ref.expval([])[0, 0]) < 1e-15
    # <Z1 Z2> of CNOT-entangled H|0> on wire 0 with RY(0.3) on wire 2: <Z1> = 0, so 0.
    assert abs(ex.expval([])[0, 0]) < 1e-12
    with pytest.raises(ValueError, match="device must be 'cpu', 'gpu', 'cuda' or 'cuda:N'"):
        c.executor([pq.Z(1)], "tensornet", device="tpu")


@pytest.mark.skipif(not _core.CUDA_BUILT or _core.cuda_available(), reason="needs a CUDA build without a GPU")
def test_cuda_build_without_gpu_refuses_in_the_engine_too():
    from pyqml.frontend.observables import as_observable

    c = _circuit()
    with pytest.raises(ValueError, match="no usable CUDA device|no CUDA device"):
        _core.GpuStateVector(c.core, [as_observable(pq.Z(0)).core_terms()], "complex128", 0)
    with pytest.raises(ValueError, match="no usable CUDA device|no CUDA device"):
        _core.cuda_bench_copy(1e6)
    with pytest.raises(ValueError, match="no usable CUDA device|no CUDA device"):
        _core.cuda_device_name(0)
    tn = c.executor([pq.Z(0)], "tensornet")
    with pytest.raises(ValueError, match="no usable CUDA device|no CUDA device"):
        _core.GpuTensorNet(tn._tn, 0)


@pytest.mark.skipif(not _core.CUDA_BUILT, reason="needs a CUDA build")
def test_cublas_loader_names_what_it_tried():
    from pyqml.tensornet.executor import cublas_dirs

    assert all(isinstance(d, str) for d in cublas_dirs())
    why = _core.cuda_cublas_load(["/nonexistent-dir"])
    if why:  # no cuBLAS here: the names and places it looked in
        assert "libcublas.so.13" in why and "/nonexistent-dir/libcublas.so.13" in why and "nvidia-cublas" in why
    else:  # loaded (a wheel or the toolkit's): a second call says the same
        assert _core.cuda_cublas_load([]) == ""
