"""Models loaded by a build's steps are released after the last step that uses them: a real
build with tiny models (transformers generate, a reward model, an LLM judge sharing the policy's
model), checking the registry's order and that the weights themselves are gone."""
from __future__ import annotations

import gc
import json
import weakref

import pytest

from datatools.pipeline import run_build, run_steps
from datatools.recipe import load_recipe_dict
from datatools.step import StepContext


@pytest.fixture(scope="module")
def tiny_rm_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny-rm"))


def _recipe(tmp_path, steps):
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"what is {i} plus {i}?"}) + "\n"
                            for i in range(3)))
    return load_recipe_dict({"name": "models", "sources": [{"path": str(data)}],
                             "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}},
                             "steps": steps}, path=tmp_path / "recipe.yaml")


def _policy(model_dir):
    return {"backend": "transformers", "model": str(model_dir), "n": 2, "max_tokens": 6,
            "temperature": 1.0}


def _watch(monkeypatch, cls, refs: list, on_load=None):
    """Record a weak reference to every model `cls.from_pretrained` really loads."""
    original = cls.from_pretrained

    def spy(*args, **kwargs):
        if on_load is not None:
            on_load()
        model = original(*args, **kwargs)
        refs.append(weakref.ref(model))
        return model

    monkeypatch.setattr(cls, "from_pretrained", spy)


def test_generator_released_before_the_reward_model_loads(tiny_model_dir, tiny_rm_dir,
                                                          tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    policies, rms, alive_at_rm_load = [], [], []
    _watch(monkeypatch, AutoModelForCausalLM, policies)
    _watch(monkeypatch, AutoModelForSequenceClassification, rms, on_load=lambda: (
        gc.collect(), alive_at_rm_load.extend(r() is not None for r in policies)))
    loaded = _recipe(tmp_path, [{"generate": {"policies": [_policy(tiny_model_dir)]}},
                                {"reward_model": {"model": str(tiny_rm_dir)}}])
    result = run_build(loaded, quiet=True)
    events = [(e["event"], e["kind"], e["step"]) for e in result.report["models"]]
    assert events == [("hold", "generator", "steps[0].generate"),
                      ("release", "generator", "steps[0].generate"),
                      ("hold", "reward_model", "steps[1].reward_model"),
                      ("release", "reward_model", "steps[1].reward_model")]
    assert len(policies) == 1 and len(rms) == 1
    assert alive_at_rm_load == [False], "the policy's weights were still in memory"
    gc.collect()
    assert rms[0]() is None, "the reward model outlived the build's last step"

    # A rerun with every step cached loads no weights at all (the generate step's requests
    # are cached too), and the plan still balances: nothing stays held.
    rerun = run_build(loaded, quiet=True, force=True)
    assert len(policies) == 1 and len(rms) == 1
    assert {e["event"] for e in rerun.report["models"]} <= {"hold", "release"}
    holds = [e for e in rerun.report["models"] if e["event"] == "hold"]
    assert len(rerun.report["models"]) == 2 * len(holds)


def test_a_model_shared_by_generate_and_a_judge_loads_once(tiny_model_dir, tmp_path,
                                                           monkeypatch):
    """The judge names the policy's own model: one load, held across both steps, released
    after the judge (its last user), and never before."""
    from transformers import AutoModelForCausalLM

    policies = []
    _watch(monkeypatch, AutoModelForCausalLM, policies)
    spec = {k: v for k, v in _policy(tiny_model_dir).items()
            if k in ("backend", "model")}
    loaded = _recipe(tmp_path, [
        {"generate": {"policies": [_policy(tiny_model_dir)]}},
        {"judge_rubric": {"backend": spec, "max_tokens": 4, "max_retries": 0,
                          "max_parse_failure_rate": None}}])
    from datatools.pipeline import read_sources

    frame, _, _, fingerprint = read_sources(loaded, quiet=True)
    ctx = StepContext(workdir=tmp_path, quiet=True)
    _, reports, _ = run_steps(loaded, [frame], fingerprint, ctx, use_cache=False)
    assert reports[1].rows_in > 0, "the judge had work to do"
    events = [(e["event"], e["step"]) for e in ctx.models.events]
    assert events == [("hold", "steps[0].generate"), ("release", "steps[1].judge_rubric")]
    assert len(policies) == 1, "generate and the judge share one load"
    assert ctx.models.loaded == set()


def test_a_failed_step_releases_what_it_held(tiny_model_dir, tmp_path):
    loaded = _recipe(tmp_path, [
        {"generate": {"policies": [_policy(tiny_model_dir)]}},
        {"judge_rubric": {"backend": {"backend": "transformers", "model": str(tiny_model_dir)},
                          "max_tokens": 4, "max_retries": 0, "max_parse_failure_rate": 0.0}},
    ])
    from datatools.pipeline import read_sources
    from datatools.schemas.errors import QualityGateError

    frame, _, _, fingerprint = read_sources(loaded, quiet=True)
    ctx = StepContext(workdir=tmp_path, quiet=True)
    with pytest.raises(QualityGateError):  # a random model's answers never parse
        run_steps(loaded, [frame], fingerprint, ctx, use_cache=False)
    assert ctx.models.loaded == set()
    assert [e["event"] for e in ctx.models.events] == ["hold", "release"]
