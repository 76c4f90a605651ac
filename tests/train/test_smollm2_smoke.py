"""SFT → KTO → DPO on a real chat model (SmolLM2-135M-Instruct, whose template has no
`{% generation %}` markers), through the CLI: it must not crash, must say which SFT masking it
used, and must report the policy's preference; prints seconds and peak RSS per step."""
from __future__ import annotations

import json
import resource

import pytest
import yaml
from typer.testing import CliRunner

from tests.train.conftest import planted_pairs, write_out
from datatools.train.__main__ import app

pytestmark = pytest.mark.slow


def test_sft_kto_dpo_on_smollm2(smollm2_dir, tmp_path):
    out = write_out(tmp_path / "out", planted_pairs(16, seed=13))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "smoke", "seed": 0, "sources": [{"path": "x.jsonl"}], "outputs": {"dir": str(out)},
        "train": {"model": str(smollm2_dir), "output_dir": "runs", "cpu": True, "batch_size": 2,
                  "max_steps": 2, "max_length": 128, "eval_fraction": 0.25, "samples": 1,
                  "stages": [{"method": "sft"}, {"method": "kto"}, {"method": "dpo"}]},
    }))
    result = CliRunner().invoke(app, ["train", str(recipe)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    stages = json.loads((tmp_path / "runs" / "eval.json").read_text())["stages"]
    assert stages[0]["sft_masking"].startswith("completion-only")  # no generation markers
    assert stages[0]["eval"]["trained"]["loss"] > 0
    assert "label_accuracy" in stages[1]["eval"]
    assert stages[2]["eval"]["policy_preference"]["trained"]["n"] > 0
    assert all(s["global_step"] == 2 for s in stages) and stages[2]["samples"][0]["trained"]
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    for s in stages:
        print(f"SmolLM2 {s['method']}: {s['train_runtime_s'] / 2:.2f} s/step (batch 2, "
              f"max_length 128); process peak RSS {peak_gb:.2f} GB")
