"""Options checked before any work: trainer_args against the TRL config class, 4-bit on the CPU;
where outputs go; the KTO rows and weights the trainer gets."""
from __future__ import annotations

from pathlib import Path

import pytest

from datatools.schemas.errors import ConfigError
from datatools.schemas.train import TrainSection
from tests.train.conftest import planted_pairs, unary_from_pairs


def test_trainer_args_checked_against_the_config_class():
    from datatools.train.checks import check_section

    section = TrainSection(model="m", data="d", stages=[
        {"method": "dpo", "trainer_args": {"max_grad_norm": 0.5, "bogus_field": 1,
                                           "learning_rate": 1.0}},
        {"method": "kto", "trainer_args": {"rpo_alpha": 1.0}}])
    with pytest.raises(ConfigError) as err:
        check_section(section)
    where = [p.location for p in err.value.problems]
    assert where == ["train.stages[0].trainer_args.bogus_field",
                     "train.stages[0].trainer_args.learning_rate",
                     "train.stages[1].trainer_args.rpo_alpha"]
    assert "set `learning_rate` instead" in str(err.value.problems[1])
    check_section(TrainSection(model="m", method="dpo", trainer_args={"max_grad_norm": 0.5}))


def test_trainer_args_reach_the_trl_config(tmp_path):
    from datatools.schemas.train import Stage
    from datatools.train.methods.common import common_args

    stage = TrainSection(model="m", method="dpo", trainer_args={"max_grad_norm": 0.5},
                         report_to="tensorboard", save_steps=3).resolved_stages()[0]
    args = common_args(stage, tmp_path, cpu=True, seed=0)
    assert args["max_grad_norm"] == 0.5 and args["report_to"] == "tensorboard"
    assert args["save_strategy"] == "steps" and args["save_steps"] == 3
    assert common_args(Stage(method="dpo"), tmp_path, True, 0)["save_strategy"] == "no"


def test_4bit_on_cpu_is_a_clear_error_before_any_work(tmp_path):
    from datatools.train.run import run_training

    section = TrainSection(model=str(tmp_path / "no-model"), method="dpo", data="missing",
                           quantization="4bit", cpu=True, output_dir=str(tmp_path / "o"))
    with pytest.raises(ConfigError, match="4bit .*needs a CUDA GPU"):
        run_training(section)
    assert not (tmp_path / "o").exists()


def test_output_dir_resolves_from_the_recipe_folder(tmp_path):
    from datatools.train.run import _resolve, output_path

    assert output_path(tmp_path, "runs/not-yet") == tmp_path / "runs" / "not-yet"
    assert output_path(tmp_path, "/abs/x") == Path("/abs/x")
    assert _resolve(tmp_path, "org/model") == "org/model"  # a model may be a Hub id
    (tmp_path / "local" / "m").mkdir(parents=True)
    assert _resolve(tmp_path, "local/m") == str(tmp_path / "local" / "m")


def test_kto_rows_interleaved_across_prompts_and_weights_from_the_training_split():
    import datasets

    from datatools.schemas.train import Stage
    from datatools.train.evaluate import prompt_key
    from datatools.train.methods.kto import prepare

    rows = unary_from_pairs(planted_pairs(40, seed=9))
    rows = [r for i, r in enumerate(rows) if r["label"] or i % 4 != 1]  # 40 desirable, 20 not
    ds = datasets.Dataset.from_list(rows)
    out, extra, facts = prepare(ds, None, Stage(method="kto"))
    keys = [prompt_key(p) for p in out["prompt"]]
    same = sum(a == b for a, b in zip(keys, keys[1:]))
    assert same == 0 and sorted(out["id"]) == sorted(ds["id"])
    labels = out["label"]
    assert sum(a != b for a, b in zip(labels[:40], labels[1:41])) >= 36  # labels alternate
    w_d, w_u = extra["weights"]
    assert 1 <= w_d * 40 / (w_u * 20) <= 4 / 3 + 1e-9
    assert facts["kto_weights_from"].startswith("Eq. 8")
