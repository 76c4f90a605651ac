"""The `train:` section, defaults, LoRA presets, data loading errors. Fast: no training."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from datatools.schemas.errors import ConfigError, SourceError
from datatools.schemas.train import TrainSection
from datatools.train.defaults import PRESETS, lora_config, preset_for_size, stage_value

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_method_xor_stages():
    with pytest.raises(ValidationError, match="exactly one"):
        TrainSection(model="m")
    with pytest.raises(ValidationError, match="exactly one"):
        TrainSection(model="m", method="dpo", stages=[{"method": "sft"}])
    with pytest.raises(ValidationError):
        TrainSection(model="m", method="dpo", lerning_rate=1e-4)  # typo is an error
    with pytest.raises(ValidationError):
        TrainSection(model="m", method="dpo", loss_type="simpo")


def test_stages_inherit_and_beta_schedule():
    t = TrainSection(model="m", batch_size=4, learning_rate=1e-4, lora={"r": 16},
                     stages=[{"method": "sft", "lora": {"alpha": 8}}, {"method": "kto"},
                             {"method": "dpo", "beta": 0.3, "batch_size": 2}])
    s = t.resolved_stages()
    assert [x.beta for x in s] == [0.05, 0.1, 0.3]
    assert [x.batch_size for x in s] == [4, 4, 2]
    assert all(x.learning_rate == 1e-4 for x in s)
    assert s[0].lora.r == 16 and s[0].lora.alpha == 8
    one = TrainSection(model="m", method="dpo").resolved_stages()
    assert len(one) == 1 and one[0].beta is None and stage_value(one[0], "beta") == 0.1
    with pytest.raises(ValidationError, match="only the first stage"):
        TrainSection(model="m", stages=[{"method": "sft"}, {"method": "dpo", "lora": {"r": 4}}])


def test_lora_appropriate_defaults():
    s = {m: TrainSection(model="m", method=m).resolved_stages()[0] for m in ("sft", "dpo", "kto")}
    assert stage_value(s["sft"], "learning_rate") == 2e-4
    assert stage_value(s["dpo"], "learning_rate") == 1e-4 > 1e-6  # not TRL's full-FT default
    assert stage_value(s["dpo"], "learning_rate", n_params=5_000_000) == 5e-4  # tiny: wider steps
    assert stage_value(s["dpo"], "learning_rate", n_params=7_000_000_000) == 5e-5
    assert stage_value(s["kto"], "learning_rate", n_params=5_000_000) == 5e-4
    assert stage_value(s["dpo"], "loss_type") == "sigmoid" and stage_value(s["dpo"], "beta") == 0.1
    norm = TrainSection(model="m", method="dpo", loss_type="sigmoid_norm").resolved_stages()[0]
    assert stage_value(norm, "beta") == 5.0  # TÜLU 3's β for length-normalised DPO
    own = TrainSection(model="m", method="dpo", loss_type="sigmoid_norm", beta=2.0)
    assert stage_value(own.resolved_stages()[0], "beta") == 2.0


def test_lora_presets_by_size():
    assert preset_for_size(500_000) == "tiny"
    assert preset_for_size(494_000_000) == "small"
    assert preset_for_size(7_600_000_000) == "medium"
    assert preset_for_size(70_000_000_000) == "large"
    assert PRESETS["small"] == {"r": 32, "alpha": 64, "target_modules": ["q_proj", "v_proj"]}
    assert PRESETS["medium"]["target_modules"] == "all-linear" and PRESETS["medium"]["r"] == 64
    assert PRESETS["large"] == {"r": 128, "alpha": 256,
                                "target_modules": ["q_proj", "k_proj", "v_proj"]}
    t = TrainSection(model="m", method="dpo", lora={"r": 4}).resolved_stages()[0]
    cfg = lora_config(t.lora, 7_000_000_000)
    assert cfg.r == 4 and cfg.lora_alpha == 128 and cfg.target_modules == "all-linear"


@pytest.mark.parametrize("name", ["train-dpo", "train-kto", "multi-stage"])
def test_shipped_recipes_validate(name):
    from datatools.schemas.recipe import Recipe

    doc = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())
    Recipe(**doc)
    assert TrainSection(**doc["train"]).resolved_stages()


def test_loader_errors(tmp_path, planted_out):
    from datatools.train.data import load_training_data

    with pytest.raises(ConfigError, match="unknown method"):
        load_training_data(planted_out, "ppo")
    with pytest.raises(SourceError, match="not found"):
        load_training_data(tmp_path / "missing", "dpo")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no parquet"):
        load_training_data(tmp_path / "empty", "dpo")
    with pytest.raises(SourceError, match="needs columns"):
        load_training_data(planted_out / "sft", "dpo")
    ds = load_training_data(planted_out, "kto")  # an OUT root: picks OUT/unary
    assert {"prompt", "completion", "label", "id", "source"} <= set(ds.column_names)


def test_split_is_by_prompt_not_record_id(planted_out):
    """Records sharing a prompt (ids differ: they hash prompt + answers) never straddle the split."""
    import datasets

    from datatools.train.data import kto_weights, load_training_data, split_by_prompt
    from datatools.train.evaluate import prompt_key

    pairs = load_training_data(planted_out / "pairwise", "dpo").to_list()
    twice = pairs + [{**p, "id": p["id"] + "-again", "rejected": p["chosen"][:0] + [
        {"role": "assistant", "content": "other bad"}]} for p in pairs]
    ds = datasets.Dataset.from_list(twice)
    train, held = split_by_prompt(ds, 0.2, seed=0, method="dpo")
    train_prompts = {prompt_key(p) for p in train["prompt"]}
    held_prompts = {prompt_key(p) for p in held["prompt"]}
    assert held_prompts and not train_prompts & held_prompts
    assert len(train) + len(held) == len(ds) and 0.1 < len(held) / len(ds) < 0.3
    assert len(held) == 2 * len(held_prompts)  # both records of each held-out prompt
    unary = load_training_data(planted_out / "unary", "kto")
    u_train, u_held = split_by_prompt(unary, 0.2, seed=0, method="kto")
    assert not {prompt_key(p) for p in u_train["prompt"]} & {prompt_key(p) for p in u_held["prompt"]}
    assert kto_weights(planted_out / "unary", unary)[2].endswith("metadata.json")
    unbalanced = unary.filter(lambda r: r["label"] or r["id"].endswith("0"))
    w_d, w_u, origin = kto_weights(Path("/nonexistent"), unbalanced)
    n_d, n_u = sum(unbalanced["label"]), len(unbalanced) - sum(unbalanced["label"])
    assert 1 <= w_d * n_d / (w_u * n_u) <= 4 / 3 + 1e-9 and origin.startswith("Eq. 8")


def test_raw_file_through_the_builders_readers(tmp_path):
    """A TRL-format JSONL trains directly: read, normalised and built on the fly."""
    import json

    pytest.importorskip("datatools.readers")
    from tests.train.conftest import planted_pairs
    from datatools.train.data import kto_weights, load_training_data

    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps({k: r[k] for k in ("prompt", "chosen", "rejected")}) + "\n"
                            for r in planted_pairs(12, seed=7)))
    dpo = load_training_data(path, "dpo", workdir=tmp_path)
    assert len(dpo) == 12 and dpo[0]["chosen"][0]["content"].endswith("good")
    kto = load_training_data(path, "kto", workdir=tmp_path)
    assert len(kto) == 24 and kto["label"][:2] == [True, False]  # interleaved
    assert kto_weights(path, kto)[2] == "builder metadata"
    sft = load_training_data(path, "sft", workdir=tmp_path)
    assert sft[0]["messages"][-1]["role"] == "assistant"
