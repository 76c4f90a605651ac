"""`datatools loop`: on-policy rounds on a tiny model — each round samples with the previous
round's adapter (its weights are in the cache key, and its samples differ from the base's at the
same seed), builds pairs judged by the verifiers, trains on, evaluates held-out prompts; a
rerun recomputes nothing, and a round cut short resumes where it was."""
import json

import polars as pl
import pytest
import yaml

from datatools.recipe import load_recipe
from datatools.schemas.errors import ConfigError


@pytest.fixture(scope="module")
def reshapeable_model(tmp_path_factory):
    from tests.tiny_models import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-loop"), initializer_range=0.2)


def loop_recipe(tmp_path, model, **loop):
    seeds = [{"instruction": f"Write a list about topic number {i} for the catalogue {i * 7}"}
             for i in range(16)]
    (tmp_path / "seeds.json").write_text(json.dumps(seeds))
    recipe = {
        "name": "loop", "seed": 0, "sources": [{"path": "seeds.json"}],
        "steps": [{"constrain_prompts": {"types": ["punctuation:no_comma"], "max_constraints": 1,
                                         "held_out_fraction": 0.25, "held_out_ngram": 13}}],
        "outputs": {"dir": "data", "prompts": {}},
        "loop": {"model": str(model), "methods": ["dpo", "dpo"], "rounds": 2, "cpu": True,
                 "eval_max_tokens": 8,
                 "sampling": {"n": 4, "temperature": 1.0, "max_tokens": 8, "batch_size": 16},
                 "train": {"learning_rate": 1e-2, "max_steps": 2, "batch_size": 4,
                           "max_length": 128}, **loop},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    return load_recipe(tmp_path / "r.yaml")


def generation_meta(round_dir):
    frame = pl.read_parquet(round_dir / "data" / "candidates" / "candidates.parquet")
    return frame, [json.loads(m)["generation"] for m in frame["meta"]]


def own_pair_kappa(round_dir) -> float | None:
    """Cohen's κ of the two judges' preferences over every pair of one prompt's answers."""
    from collections import Counter
    from itertools import combinations

    frame = pl.read_parquet(round_dir / "data" / "candidates" / "candidates.parquet")
    prefer = lambda a, b: (a > b) - (a < b)  # noqa: E731
    pairs = []
    for _, g in frame.group_by("id"):
        for (v1, s1), (v2, s2) in combinations(zip(g["judge_verifiable"], g["judge_strict"]), 2):
            pairs.append((prefer(s1, s2), prefer(v1, v2)))
    n = len(pairs)
    p_o = sum(a == b for a, b in pairs) / n
    left, right = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    p_e = sum(left[c] * right[c] for c in (-1, 0, 1)) / n**2
    return None if p_e == 1 else (p_o - p_e) / (1 - p_e)


@pytest.mark.slow
def test_rounds_use_the_previous_adapter_and_resume(tmp_path, reshapeable_model):
    from datatools.pipeline import run_build
    from datatools.train.loop import run_loop

    strict = {"verifiable": {"name": "strict", "scoring": "all", "set_score": False}}
    loaded = loop_recipe(tmp_path, reshapeable_model, judges=[strict])
    report = run_loop(loaded)
    rounds = report["rounds"]
    held_out_ids = set(pl.read_parquet(tmp_path / "data" / "prompts" / "test.parquet")["id"])
    assert [r["round"] for r in rounds] == [0, 1, 2] and report["n_held_out"] > 0
    for r in rounds:
        ev = r["eval"]
        assert ev["n"] == report["n_held_out"] and 0 <= ev["pass_rate"] <= 1
        assert set(ev["per_type"]) == {"punctuation:no_comma"} and "mean_words" in ev
    for r in rounds[1:]:
        assert r["data"]["rows"] > 0 and r["data"]["samples"] > 0  # pairs built, drops counted
        assert r["data"]["sample_mean_words"] > 0
        rdir = tmp_path / "loop" / f"round-{r['round']}"
        # the second judge against the verifier, per pair of one prompt's answers
        (got,) = r["judge_agreement"]["pairs"]
        assert got["judge"] == "judge_strict" and got["compared"] > 0
        kappa = own_pair_kappa(rdir)
        assert got["cohen_kappa"] == (None if kappa is None else pytest.approx(round(kappa, 4)))
        pref = r["preference"]  # held-out prompts answered by the round's starting policy
        built = pl.read_parquet(rdir / "held_out" / "data" / "candidates" / "candidates.parquet")
        assert set(built["id"]) <= held_out_ids
        if pref["n_pairs"]:
            assert pref["implicit_reward"]["accuracy"]["n"] == pref["n_pairs"]
            assert pref["reference"] == (r["start_adapter"] or "base (adapter disabled)")
        else:
            assert pref["reason"]
    # round 1 samples from the base; round 2 from round 1's adapter, whose weights fingerprint
    # is part of every request's cache key (and its trainer's reference is that adapter)
    _, gen1 = generation_meta(tmp_path / "loop" / "round-1")
    frame2, gen2 = generation_meta(tmp_path / "loop" / "round-2")
    assert {g["adapter"] is None for g in gen1} == {True}
    adapter1 = rounds[1]["adapter"]
    assert rounds[2]["start_adapter"] == adapter1
    assert {g["adapter"]["adapter"] for g in gen2} == {str(__import__("pathlib").Path(adapter1)
                                                           .resolve())}
    assert all(g["adapter"]["weights"] for g in gen2)
    stage = json.loads((tmp_path / "loop" / "round-2" / "train" / "eval.json").read_text())
    assert stage["start_adapter"] == adapter1
    # the same round-2 sampling without the adapter (same seed) gives other answers
    plain = yaml.safe_load((tmp_path / "loop" / "round-2" / "recipe.yaml").read_text())
    plain["steps"][0]["generate"]["policies"][0].pop("adapter")
    plain["outputs"]["dir"] = str(tmp_path / "base-samples")
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(plain))
    base = run_build(load_recipe(tmp_path / "plain.yaml"), quiet=True).frame
    with_adapter = dict(zip(frame2["candidate_id"], frame2["completion"]))
    same = [with_adapter.get(c) == t for c, t in zip(base["candidate_id"], base["completion"])]
    assert len(same) > 0 and sum(same) < len(same) / 2
    # a rerun recomputes nothing; a round cut short (no eval, no training record) resumes
    weights = tmp_path / "loop" / "round-1" / "train" / "adapter" / "adapter_model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert run_loop(loaded) == report
    (tmp_path / "loop" / "round-2" / "eval.json").unlink()
    (tmp_path / "loop" / "round-2" / "train" / "eval.json").unlink()
    again = run_loop(loaded)
    assert weights.stat().st_mtime_ns == stamp  # round 1 was not retrained
    assert again["rounds"][2]["data"] == report["rounds"][2]["data"]  # samples from the cache
    assert again["rounds"][2]["eval"]["n"] == report["rounds"][2]["eval"]["n"]


def test_loop_needs_prompts(tmp_path, reshapeable_model):
    from datatools.train.loop import run_loop

    loaded = loop_recipe(tmp_path, reshapeable_model)
    loaded.recipe.outputs.prompts = None
    with pytest.raises(ConfigError, match="loop.prompts"):
        run_loop(loaded)


def test_bootstrap_interval_is_after_minus_before():
    from datatools.train.bench_loop import bootstrap_ci

    before = [False] * 30 + [True] * 10
    after = [True] * 30 + [True] * 10
    gain, lo, hi = bootstrap_ci(before, after)
    assert gain == pytest.approx(0.75) and 0.5 < lo <= gain <= hi <= 1.0
    worse, lo, hi = bootstrap_ci(after, before)
    assert worse == pytest.approx(-0.75) and hi < 0
    with pytest.raises(ValueError):
        bootstrap_ci([True], [True, False])
