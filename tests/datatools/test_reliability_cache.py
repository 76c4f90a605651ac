"""Caches never serve a stale or damaged result: files named in step params are part of the
key, a cache entry must balance its books to be used, damaged entries are recomputed, and a
damaged or full request cache is one clear error. The full disk is a real small tmpfs."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import polars as pl
import pytest

from datatools.cache import RequestCache
from datatools.out_folder import store_of
from datatools.pipeline import run_build
from datatools.recipe import load_recipe_dict
from datatools.schemas.errors import UserError


def prefs(path: Path, n: int = 6) -> None:
    rows = [{"prompt": [{"role": "user", "content": f"What is the capital of country {i}?"}],
             "chosen": [{"role": "assistant", "content": f"It is city {i}, of course."}],
             "rejected": [{"role": "assistant", "content": "No idea."}]} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def spec(tmp_path: Path, out: Path | None = None) -> dict:
    return {"name": "t", "sources": [{"path": str(tmp_path / "a.jsonl")}],
            "steps": [{"validate": {}},
                      {"decontaminate": {"eval_sets": [str(tmp_path / "eval.jsonl")],
                                         }}],
            "outputs": {"dir": str(out or tmp_path / "out"), "pairwise": {}}}


def test_editing_an_eval_set_reruns_decontaminate(tmp_path):
    prefs(tmp_path / "a.jsonl")
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"prompt": "an unrelated benchmark question here"}) + "\n")
    first = run_build(load_recipe_dict(spec(tmp_path)), quiet=True).report
    assert first["steps"][1]["rejected"] == 0
    evals.write_text(json.dumps({"prompt": "What is the capital of country 3?"}) + "\n")
    again = run_build(load_recipe_dict(spec(tmp_path)), quiet=True).report
    # before: the edited eval set was ignored, the cached (now wrong) result reused
    assert [s["cached"] for s in again["steps"]] == [True, False]
    assert again["steps"][1]["by_reason"] == {"decontaminate.match": 2}


def step_folder(out: Path, name: str) -> Path:
    return next((store_of(out) / "cache" / "steps").glob(f"*-{name}-*"))


def test_a_damaged_step_cache_entry_is_recomputed_with_a_warning(tmp_path, capsys):
    prefs(tmp_path / "a.jsonl")
    (tmp_path / "eval.jsonl").write_text(json.dumps({"prompt": "What is the capital of "
                                                               "country 3?"}) + "\n")
    first = run_build(load_recipe_dict(spec(tmp_path)), quiet=True)
    folder = step_folder(tmp_path / "out", "decontaminate")
    (folder / "rejected.parquet").write_bytes(b"PAR1 not really parquet")
    again = run_build(load_recipe_dict(spec(tmp_path)), quiet=True)
    assert [s["cached"] for s in again.report["steps"]] == [True, False]
    assert str(folder) in capsys.readouterr().err
    assert again.datasets["pairwise"].equals(first.datasets["pairwise"])


def test_a_cache_entry_that_does_not_balance_is_not_used(tmp_path):
    prefs(tmp_path / "a.jsonl")
    (tmp_path / "eval.jsonl").write_text(json.dumps({"prompt": "What is the capital of "
                                                               "country 3?"}) + "\n")
    run_build(load_recipe_dict(spec(tmp_path)), quiet=True)
    folder = step_folder(tmp_path / "out", "decontaminate")
    rejected = pl.read_parquet(folder / "rejected.parquet")
    assert rejected.height == 2
    rejected.head(1).write_parquet(folder / "rejected.parquet")  # a row lost from the books
    again = run_build(load_recipe_dict(spec(tmp_path)), quiet=True).report
    assert again["steps"][1]["cached"] is False and again["steps"][1]["rejected"] == 2
    assert again["ledger"]["by_reason"]["decontaminate.match"] == 2


def test_a_damaged_request_cache_is_one_clear_error(tmp_path):
    path = tmp_path / "requests.sqlite"
    path.write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(UserError, match=f"{path}: the request cache is unreadable .*delete"):
        RequestCache(path)


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB filesystem (tmpfs); skipped where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_under_the_request_cache_says_disk_is_full(small_disk):
    cache = RequestCache(small_disk / "requests.sqlite")
    with pytest.raises(UserError, match="disk is full") as err:
        for i in range(100):  # before: "cannot rollback - no transaction is active"
            cache.put_many({f"k{i}-{j}": os.urandom(4000).hex() for j in range(10)})
    assert "rollback" not in str(err.value)
    assert len(cache) > 0  # what was stored before the disk filled up is still there
    cache.close()


@pytest.mark.parametrize("use_cache", [False, True])  # True: the step cache fills it first
def test_a_full_disk_under_outputs_names_the_path_and_leaves_nothing_half_written(
        tmp_path, small_disk, use_cache):
    rows = [{"prompt": [{"role": "user", "content": f"q{i} " + os.urandom(200).hex()}],
             "chosen": [{"role": "assistant", "content": os.urandom(400).hex()}],
             "rejected": [{"role": "assistant", "content": "no"}]} for i in range(1500)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {"name": "t", "sources": [{"path": str(tmp_path / "a.jsonl")}],
              "steps": [{"validate": {}}], "outputs": {"dir": str(small_disk / "out"),
                                                        "pairwise": {}, "sft": {}}}
    with pytest.raises(UserError, match=f"{small_disk / 'out'}: disk is full: .* needs about"):
        run_build(load_recipe_dict(recipe), quiet=True, use_cache=use_cache)
    assert not (small_disk / "out").exists()
    assert list((store_of(small_disk / "out") / "builds").iterdir()) == []  # staging removed
