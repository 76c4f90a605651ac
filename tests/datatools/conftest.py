import os

import pytest


@pytest.fixture(autouse=True)
def small_slices(monkeypatch):
    """Steps evaluate row-wise checks a slice at a time (50k rows in use); tiny slices here
    make every test frame span several, so slicing cannot change a result unnoticed."""
    import datatools.step

    monkeypatch.setattr(datatools.step, "SLICE_ROWS", 16)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    import ray

    old = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # a private instance on loopback, for this test
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield ray
    ray.shutdown()
    if old is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = old
