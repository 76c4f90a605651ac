"""CLI: exit codes, `location: message` errors without tracebacks, the quickstart recipe."""
import json
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from datatools.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_help_is_instant_no_heavy_imports():
    code = ("import sys, datatools.cli, datatools.registry, datatools.recipe; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'vllm', 'detoxify', 'datasets') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr


def test_bad_recipe_lists_every_problem_and_exits_1(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "x", "sources": [{"path": "a.jsonl"}],
        "steps": [{"validate": {"require_completion": "maybe"}}, {"nope": {}}],
        "outputs": {"dir": "out", "pairwise": {"rejected": "best"}},
    }))
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert any(line.startswith("error: steps[0].validate.require_completion:") for line in lines)
    assert any(line.startswith("error: steps[1]: unknown step 'nope'") for line in lines)
    assert any(line.startswith("error: outputs.pairwise.rejected:") for line in lines)
    assert "Traceback" not in result.output


def test_missing_source_is_a_clear_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x", "sources": [{"path": "missing.jsonl"}],
                                      "outputs": {"dir": "out", "sft": {}}}))
    result = runner.invoke(app, ["build", str(recipe), "--quiet"])
    assert result.exit_code == 1
    assert "missing.jsonl" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # nothing started


def test_quickstart_runs_and_every_step_does_something(tmp_path):
    import polars as pl

    result = runner.invoke(app, ["build", str(REPO / "recipes" / "quickstart.yaml"),
                                 "--out", str(tmp_path / "qs")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "qs" / "report.json").read_text())
    dropped = {s["name"]: s["by_reason"] for s in report["steps"]}
    assert dropped["validate"] == {"validate.empty_completion": 1}
    assert dropped["exact_dedup"] == {"exact_dedup.duplicate": 6}  # 2 duplicate records × 3 answers
    assert dropped["near_dedup"] == {"near_dedup.cluster": 3}  # the reworded hash-table prompt
    assert dropped["low_info"] == {"low_info.completion": 2}  # "OK." and "Sure."
    assert dropped["length"] == {"length.completion_words": 1}  # the padded 120-word answer
    # the verifiable judge scored every math / constraint answer: 11 prompts × 3 candidates
    candidates = pl.read_parquet(tmp_path / "qs" / "candidates" / "candidates.parquet")
    assert candidates["judge_verifiable"].drop_nulls().len() == 33
    math = candidates.filter(pl.col("meta").str.contains('"answer": "42"'))
    assert math.sort("candidate_id")["score"].to_list() == [1.0, 0.0, 1.0]
    assert report["ledger"]["by_reason"]["build.pairwise.tie"] == 1
    assert report["outputs"]["pairwise"]["rows"] == 48
    assert "why rows were dropped" in result.output


def test_dry_run_reads_but_writes_nothing(tmp_path):
    result = runner.invoke(app, ["build", str(REPO / "recipes" / "quickstart.yaml"),
                                 "--out", str(tmp_path / "qs"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "format ultrafeedback" in result.output and "52 records" in result.output
    assert not (tmp_path / "qs").exists()


def test_steps_and_schema_commands():
    result = runner.invoke(app, ["steps"])
    assert result.exit_code == 0 and "exact_dedup" in result.output and "fields" in result.output
    schema = json.loads(runner.invoke(app, ["schema"]).output)
    assert schema["title"] == "Recipe"


def test_inspect_and_convert(tmp_path):
    src = REPO / "recipes" / "data" / "quickstart.jsonl"
    result = runner.invoke(app, ["inspect", str(src)])
    assert result.exit_code == 0 and "ultrafeedback" in result.output
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["convert", str(src), str(out), "--to", "trl"])
    assert result.exit_code == 0, result.output
    first = json.loads(out.read_text().splitlines()[0])
    assert {"prompt", "chosen", "rejected"} <= set(first)


def test_cli_sets_allocator_decay_before_polars_loads():
    """The jemalloc setting only works if it is in the environment before polars is imported:
    importing the CLI must not import polars (commands import it lazily)."""
    import subprocess
    import sys

    code = ("import os, sys; os.environ.pop('_RJEM_MALLOC_CONF', None); import datatools.cli; "
            "print('polars' in sys.modules, os.environ['_RJEM_MALLOC_CONF'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, conf = out.stdout.split()
    assert loaded == "False" and "dirty_decay_ms:250" in conf


def test_build_profile_writes_every_phase(tmp_path):
    prof = tmp_path / "profile.json"
    result = runner.invoke(app, ["build", str(REPO / "recipes" / "quickstart.yaml"),
                                 "--out", str(tmp_path / "qs"), "--profile", str(prof)])
    assert result.exit_code == 0, result.output
    phases = json.loads(prof.read_text())["phases"]
    names = [p["phase"] for p in phases]
    assert names[0] == "start-up" and names[-1] == "total"
    assert "read data/quickstart.jsonl" in names and "0. validate" in names
    assert {"builders", "write report.json", "write card (README.md)",
            "write outputs"} <= set(names)
    # the writers are one phase (CPU counted once), each writer's own wall under it
    writes = phases[names.index("write outputs")]
    parts = {p["phase"]: p["wall_s"] for p in writes["parts"]}
    assert set(parts) == {"write pairwise", "write unary", "write sft", "write rejects (ledger)",
                          "write candidates", "write report.html"}
    assert all(0 <= wall <= writes["wall_s"] + 0.01 for wall in parts.values())
    total = phases[-1]
    assert abs(total["wall_s"] - sum(p["wall_s"] for p in phases[:-1])) < 0.01
    assert all(p["cpu_s"] >= 0 and p["wall_s"] >= 0 for p in phases)
    peaks = [p["peak_rss_mb"] for p in phases]  # the high-water mark when each phase ended
    assert all(p > 0 for p in peaks)  # recorded per phase (in-process, earlier tests set the peak)
    assert all(0 < p["rss_mb"] <= p["peak_rss_mb"] + 1 for p in phases)  # resident now ≤ peak
    assert "CPU/wall" in result.output and "peak RSS MiB" in result.output
