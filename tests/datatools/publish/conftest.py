"""A real build folder, written once per session by the pipeline's writer (see build_fixture)."""
from __future__ import annotations

import pytest

from tests.datatools.publish.build_fixture import make_out


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """(OUT path, report dict) — treat as read-only; copy it to change it."""
    out = tmp_path_factory.mktemp("build") / "out"
    return out, make_out(out)
