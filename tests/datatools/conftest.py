import pytest


@pytest.fixture(autouse=True)
def small_slices(monkeypatch):
    """Steps evaluate row-wise checks a slice at a time (50k rows in use); tiny slices here
    make every test frame span several, so slicing cannot change a result unnoticed."""
    import datatools.step

    monkeypatch.setattr(datatools.step, "SLICE_ROWS", 16)
