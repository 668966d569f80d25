"""GPU tests: everything marked ``gpu`` is skipped unless this build has the CUDA kernels and finds a GPU."""
import pytest

from pyqml import _core


def pytest_collection_modifyitems(config, items):
    if _core.cuda_available():
        return
    skip = pytest.mark.skip(reason=f"CUDA path unavailable: {_core.cuda_unavailable_reason()}")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
