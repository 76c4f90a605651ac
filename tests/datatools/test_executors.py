"""The executor contract: every step declares a scope; `local` is the in-process pipeline."""
from __future__ import annotations

import pytest

from datatools.executors import steps_runner
from datatools.pipeline import run_steps
from datatools.registry import STEPS
from datatools.step import SCOPES
from datatools.schemas.errors import ConfigError


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_step_declares_a_scope(name):
    assert STEPS[name].__dict__.get("scope") in SCOPES, f"{name} declares no scope of its own"


def test_scopes_match_what_the_steps_need():
    scopes = {name: cls.scope for name, cls in STEPS.items()}
    assert scopes["exact_dedup"] == scopes["near_dedup"] == "global"
    assert scopes["validate"] == scopes["length"] == "record"
    assert scopes["low_info"] == "row"


def test_local_is_the_in_process_pipeline():
    assert steps_runner("local") is run_steps


def test_unknown_executor_kind_is_a_config_error(tmp_path):
    from datatools.recipe import load_recipe_dict

    with pytest.raises(ConfigError) as err:
        load_recipe_dict({"name": "x", "sources": [{"path": "a.jsonl"}],
                          "outputs": {"dir": "out"}, "executor": {"kind": "spark", "adress": 1}})
    text = str(err.value)
    assert "executor.kind" in text and "executor.adress" in text
