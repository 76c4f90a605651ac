"""The executor contract: every step declares a scope; the recipe's executor section is checked."""
from __future__ import annotations

import pytest

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


def test_unknown_executor_kind_is_a_config_error(tmp_path):
    from datatools.recipe import load_recipe_dict

    with pytest.raises(ConfigError) as err:
        load_recipe_dict({"name": "x", "sources": [{"path": "a.jsonl"}],
                          "outputs": {"dir": "out"}, "executor": {"kind": "spark", "adress": 1}})
    text = str(err.value)
    assert "executor.kind" in text and "executor.adress" in text


def test_actor_pools_must_name_block_steps_of_the_recipe(tmp_path):
    from datatools.recipe import load_recipe_dict

    with pytest.raises(ConfigError) as err:
        load_recipe_dict({
            "name": "a", "sources": [{"path": str(tmp_path / "d.jsonl")}],
            "steps": [{"validate": {}}, {"exact_dedup": {}}],
            "outputs": {"dir": str(tmp_path / "out")},
            "executor": {"kind": "ray", "actors": {"generate": {"replicas": 2},
                                                    "exact_dedup": {"num_gpus": 1}}}})
    lines = [f"{p.location}: {p.message}" for p in err.value.problems]
    assert "executor.actors.generate: no step 'generate' in this recipe (its steps: validate, " \
           "exact_dedup)" in lines
    assert any(line.startswith("executor.actors.exact_dedup: exact_dedup is a global step")
               for line in lines), lines


def test_steps_that_load_a_model_run_on_actors_by_default():
    from datatools.executors.ray_steps import actor_spec
    from datatools.schemas.recipe import ExecutorSpec

    spec = ExecutorSpec(kind="ray", actors={"low_info": {"replicas": 3}})
    generate = STEPS["generate"](STEPS["generate"].Params.model_validate(
        {"policies": [{"backend": "transformers", "model": "org/model"}]}))
    low_info, length = STEPS["low_info"](), STEPS["length"]()
    assert actor_spec(generate, spec).replicas == 1  # loads a model: one actor
    assert actor_spec(low_info, spec).replicas == 3  # named in executor.actors
    assert actor_spec(length, spec) is None  # plain block tasks


def test_a_local_ray_instance_starts_without_lineage_pinning_unless_asked(monkeypatch):
    ray = pytest.importorskip("ray")
    from datatools.executors.ray_steps import ray_session
    from schemas.recipe import ExecutorSpec

    seen = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: seen.append(kwargs))
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    for spec in (ExecutorSpec(kind="ray", num_cpus=2),
                 ExecutorSpec(kind="ray", lineage_pinning=True),
                 ExecutorSpec(kind="ray", address="auto")):
        with ray_session(spec):
            pass
    assert seen[0]["_system_config"] == {"lineage_pinning_enabled": False}
    assert seen[1]["_system_config"] == {"lineage_pinning_enabled": True}
    assert "_system_config" not in seen[2]  # a running cluster keeps its own settings
