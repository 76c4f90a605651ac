"""The method registry: every method declares what the runner needs, and the recipe schema
accepts exactly the registered names."""
from __future__ import annotations

import typing

import pytest

from datatools.schemas.train import Method as MethodName
from datatools.train.methods import METHODS, get_method


def test_registry_matches_the_schema():
    assert set(typing.get_args(MethodName)) == set(METHODS)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_method_declares_its_parts(name):
    m = METHODS[name]
    assert m.name == name and m.kind and m.columns and m.required
    assert {"learning_rate", "epochs", "batch_size", "max_length"} <= set(m.defaults)
    assert callable(m.trainer)
    assert all(set(alt) <= set(m.columns) for alt in m.required)
    config = m.config_class()
    assert "learning_rate" in config.__dataclass_fields__


def test_unknown_method_is_a_config_error():
    from datatools.schemas.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown method 'orpo'"):
        get_method("orpo")


def test_kto_run_check_rejects_batch_of_one():
    problems = METHODS["kto"].run_checks({"batch_size": 1, "max_length": 64})
    assert problems and problems[0].location == "train.batch_size"
    assert METHODS["dpo"].run_checks({"batch_size": 1, "max_length": 64}) == []
