"""Fixtures shared by the kernel tests."""
import pytest

from granite_native import _native


@pytest.fixture
def isa():
    """Yields a setter for the kernel level and restores the level in force afterwards."""
    before = _native.isa_current()
    yield _native.set_isa
    _native.set_isa(before)
