"""Commands end to end on the tiny model: multi-stage recipe, one-off flags, merge, flags, bench."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import typer
import yaml
from typer.testing import CliRunner

from datatools.train.__main__ import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_register_mounts_commands():
    from datatools.train.cli import register, register_bench

    main, bench = typer.Typer(), typer.Typer()
    register(main)
    register_bench(bench)
    assert {c.name for c in main.registered_commands} == {"train", "merge", "flag-pairs"}
    assert [c.name for c in bench.registered_commands] == ["train"]


@pytest.mark.slow
def test_multi_stage_recipe_then_merge(planted_out, tiny_model_dir, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "t", "seed": 0, "sources": [{"path": "x.jsonl"}],
        "outputs": {"dir": str(planted_out)},
        "train": {"model": str(tiny_model_dir), "output_dir": "runs", "cpu": True,
                  "batch_size": 4, "max_steps": 2, "max_length": 96, "merge": True,
                  "stages": [{"method": "sft"}, {"method": "kto"}, {"method": "dpo"}]},
    }))
    result = runner.invoke(app, ["train", str(recipe)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "runs" / "eval.json").read_text())
    stages = report["stages"]
    assert [s["method"] for s in stages] == ["sft", "kto", "dpo"]
    assert [s["beta"] for s in stages] == [0.05, 0.1, 0.2]
    assert stages[0]["reference"].startswith("base")
    assert stages[1]["reference"] == stages[0]["adapter"]  # continues from the SFT adapter
    assert stages[2]["reference"] == stages[1]["adapter"]
    assert stages[1]["data"].endswith("unary") and stages[2]["data"].endswith("pairwise")
    assert "policy_preference" in stages[2]["eval"] and "label_accuracy" in stages[1]["eval"]
    assert {"loss", "perplexity"} <= set(stages[0]["eval"]["trained"])  # SFT held-out loss
    assert stages[0]["sft_masking"].startswith("assistant-only")
    assert "held-out loss" in result.output and "KTO label accuracy" in result.output
    assert (tmp_path / "runs" / "stage2-dpo" / "eval_margins.parquet").is_file()
    assert not (Path(stages[2]["adapter"]) / "ref").exists()  # TRL's frozen copy is not saved
    _merged_equals_adapter(tmp_path / "runs" / "merged", stages[2]["adapter"], tiny_model_dir)


def _merged_equals_adapter(merged_dir, adapter, base):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[5, 17, 42, 99, 3, 7]])
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).eval()
    plain = AutoModelForCausalLM.from_pretrained(base).eval()
    with torch.no_grad():
        a, b, c = merged(ids).logits, with_adapter(ids).logits, plain(ids).logits
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(a, c, atol=1e-4)


@pytest.mark.slow
def test_one_off_flags_and_merge_command(planted_out, tiny_model_dir, tmp_path):
    out = tmp_path / "dpo"
    result = runner.invoke(app, [
        "train", "--method", "dpo", "--data", str(planted_out / "pairwise"), "--model",
        str(tiny_model_dir), "--out", str(out), "--cpu", "--max-steps", "3", "--batch-size", "4",
        "--max-length", "96", "--loss-type", "ipo", "--lora-r", "4", "--sft-weight", "0.5",
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "held-out policy preference (log π(chosen) > log π(rejected))" in result.output
    assert "implicit reward accuracy" in result.output and "sample:" in result.output
    cfg = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 8
    result = runner.invoke(app, ["merge", str(out / "adapter"), "--out", str(tmp_path / "m")],
                           catch_exceptions=False)
    assert result.exit_code == 0 and (tmp_path / "m" / "config.json").is_file()


def test_user_errors(planted_out, tiny_model_dir, tmp_path):
    def errors(*args):
        result = runner.invoke(app, list(args))
        assert result.exit_code == 1 and "Traceback" not in result.output
        return [line for line in result.output.splitlines() if line.startswith("error: ")]

    assert errors("train", "--method", "ppo", "--data", str(planted_out), "--model",
                  str(tiny_model_dir))[0].startswith("error: train.method: ")
    assert errors("train", "--method", "dpo")  # no model, no data
    no_section = tmp_path / "r.yaml"
    no_section.write_text("name: x\nsources: [{path: a.jsonl}]\noutputs: {dir: out}\n")
    assert "no `train:` section" in errors("train", str(no_section))[0]
    broken = tmp_path / "broken.yaml"  # the whole recipe is checked, not only `train:`
    broken.write_text("name: x\nsources: [{path: a.jsonl}]\noutputs: {dir: out}\n"
                      "train: {model: m, method: dpo, betta: 0.1}\n")
    assert any("train.betta: unknown key" in line for line in errors("train", str(broken)))
    # a model that cannot be loaded (offline, not cached) is one line naming it
    missing = "no-such-org/no-such-model"
    [line] = errors("train", "--method", "dpo", "--data", str(planted_out / "pairwise"),
                    "--model", missing, "--out", str(tmp_path / "never"), "--cpu")
    assert line.startswith("error: train.model: cannot load tokenizer 'no-such-org/no-such-model'")
    assert not (tmp_path / "never" / "adapter").exists()
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": missing}))
    [line] = errors("merge", str(adapter), "--out", str(tmp_path / "merged"))
    assert line.startswith("error: merge.base_model: cannot load base model") and missing in line
    assert not (tmp_path / "merged").exists()
    # `python -m datatools.train` prints `location: message` and exits 1
    proc = subprocess.run([sys.executable, "-m", "datatools.train", "train", "--method", "ppo",
                           "--data", "d",
                           "--model", "m"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1 and "train.method:" in proc.stderr


def test_flag_pairs_writes_ledger(tmp_path):
    margins = tmp_path / "eval_margins.parquet"
    pl.DataFrame({"id": ["a", "b", "c"], "source": ["f:1", "f:2", "f:3"],
                  "margin": [0.8, -0.2, -3.0]}).write_parquet(margins)
    out = tmp_path / "rejects" / "train_flags.parquet"
    result = runner.invoke(app, ["flag-pairs", str(margins), "--out", str(out), "--threshold",
                                 "-0.5"], catch_exceptions=False)
    assert result.exit_code == 0
    flags = pl.read_parquet(out)
    assert flags["id"].to_list() == ["c"]
    assert flags.row(0, named=True)["step"] == "train.flag"
    assert flags.row(0, named=True)["reason"] == "train.likely_mislabelled"
    assert {"detail", "source", "candidate_id", "record"} <= set(flags.columns)


@pytest.mark.slow
def test_bench_tiny_smoke(tmp_path):
    result = runner.invoke(app, ["bench", "train", "--tiny", "--steps", "2", "--batch-size", "2",
                                 "--out", str(tmp_path / "b.json")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "b.json").read_text())
    assert set(data["runs"]) == {"trl_defaults", "ours"}
    ours = data["runs"]["ours"]["settings"]  # read back from the product's own trainer
    assert ours["precompute_ref_log_probs"] is True and ours["loss_type"] == ["sigmoid"]
    assert ours["beta"] == 0.1
    assert data["runs"]["ours"]["tokens"] == data["runs"]["trl_defaults"]["tokens"] > 0


def test_users_own_train_and_schemas_modules_do_not_shadow_ours(tmp_path):
    """`python -m` puts the working folder first on sys.path; a user's train.py / schemas.py
    there must not replace the trainer or the recipe schemas (they install as datatools.*)."""
    for name in ("train", "schemas"):
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('user {name}.py was imported')\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    for module in ("datatools.train", "datatools"):
        proc = subprocess.run([sys.executable, "-m", module, "train", "--help"], cwd=tmp_path,
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "user" not in proc.stderr and "--method" in proc.stdout
