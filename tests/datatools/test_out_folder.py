"""OUT ownership, refusal of user folders, the lock, one atomic switch, leftovers cleaned.

Kills are real SIGKILLs of a real build subprocess; the lock is held by a real other process.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

from datatools.out_folder import BuildLockedError, OutFolder, store_of
from datatools.pipeline import run_build
from datatools.recipe import load_recipe, load_recipe_dict
from datatools.schemas.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def prefs(path: Path, tag: str, n: int = 6) -> Path:
    rows = [{"prompt": [{"role": "user", "content": f"{tag} question {i}?"}],
             "chosen": [{"role": "assistant", "content": f"A good {tag} answer {i}."}],
             "rejected": [{"role": "assistant", "content": f"bad {i}"}]} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def spec(tmp_path: Path, out: Path, source: str = "a.jsonl") -> dict:
    return {"name": "t", "sources": [{"path": str(tmp_path / source)}],
            "steps": [{"validate": {}}],
            "outputs": {"dir": str(out), "pairwise": {}, "sft": {}}}


def tree(root: Path) -> dict:
    """Every file under root (links not followed) with its bytes: to prove nothing changed."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            p = Path(folder) / name
            out[str(p.relative_to(root))] = os.readlink(p) if p.is_symlink() else p.read_bytes()
    return out


def users_folder(root: Path) -> Path:
    """What a user's own project folder looks like: their sft/ and unary/ data, a README."""
    (root / "sft").mkdir(parents=True)
    (root / "sft" / "mine.jsonl").write_text('{"messages": []}\n')
    (root / "unary").mkdir()
    (root / "unary" / "labels.csv").write_text("a,b\n")
    (root / "README.md").write_text("# my project\n")
    (root / "report.json").write_text('{"mine": true}')
    return root


def test_a_users_folder_is_refused_and_left_byte_for_byte(tmp_path):
    prefs(tmp_path / "a.jsonl", "a")
    out = users_folder(tmp_path / "project")
    before = tree(out)
    with pytest.raises(ConfigError, match="not empty and was not written by datatools"):
        run_build(load_recipe_dict(spec(tmp_path, out)), quiet=True)
    assert tree(out) == before
    assert not store_of(out).exists()


def test_force_moves_a_users_folder_aside_and_keeps_it(tmp_path):
    prefs(tmp_path / "a.jsonl", "a")
    out = users_folder(tmp_path / "project")
    before = tree(out)
    run_build(load_recipe_dict(spec(tmp_path, out)), quiet=True, force=True)
    kept = [p for p in store_of(out).iterdir() if p.name.startswith("kept-")]
    assert len(kept) == 1 and tree(kept[0]) == before  # nothing of the user's deleted
    assert pl.read_parquet(out / "pairwise" / "train.parquet").height == 6


@pytest.mark.parametrize("where", ["root", "home", "recipe", "above_recipe"])
def test_root_home_and_the_recipes_folder_are_refused_even_with_force(tmp_path, where, monkeypatch):
    project = tmp_path / "proj" / "recipes"
    project.mkdir(parents=True)
    prefs(project / "a.jsonl", "a")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    target = {"root": "/", "home": "~", "recipe": ".", "above_recipe": ".."}[where]
    recipe = project / "r.yaml"
    recipe.write_text(yaml.safe_dump({**spec(project, Path("x")), "outputs": {
        "dir": target, "sft": {}}}))
    before = tree(tmp_path)
    with pytest.raises(ConfigError, match="is the root folder|is your home folder|"
                                          "is the recipe's own folder|contains the recipe"):
        run_build(load_recipe(recipe), quiet=True, force=True)
    assert tree(tmp_path) == before


def test_rebuild_switches_the_link_and_leaves_no_staging_or_old_builds(tmp_path):
    prefs(tmp_path / "a.jsonl", "a")
    prefs(tmp_path / "b.jsonl", "b", n=4)
    out = tmp_path / "out"
    run_build(load_recipe_dict(spec(tmp_path, out)), quiet=True)
    first = os.readlink(out)
    run_build(load_recipe_dict(spec(tmp_path, out, "b.jsonl")), quiet=True)
    assert out.is_symlink() and os.readlink(out) != first
    builds = list((store_of(out) / "builds").iterdir())
    assert [b.name for b in builds] == [Path(os.readlink(out)).name]  # the old one is gone
    assert sorted(p.name for p in store_of(out).iterdir()) == ["builds", "cache", "lock"]
    assert pl.read_parquet(out / "pairwise" / "train.parquet").height == 4
    assert json.loads((out / ".datatools.json").read_text())["written_by"] == "datatools"
    # a reader that globs OUT/** sees exactly one build, with no staging folder in it
    found = sorted(str(p.relative_to(out)) for p in out.glob("**/*.parquet")
                   if ".cache" not in p.parts)
    assert found == ["candidates/candidates.parquet", "pairwise/train.parquet",
                     "rejects/rejects.parquet", "sft/train.parquet"]
    files = (pl.scan_parquet(str(out / "**" / "*.parquet"), include_file_paths="file",  # polars'
                             missing_columns="insert", extra_columns="ignore")  # own glob
             .select("file").unique().collect()["file"])
    seen = {str(Path(f).relative_to(out)) for f in files if ".cache" not in f}  # (files of
    assert {"pairwise/train.parquet", "sft/train.parquet"} <= seen <= set(found)  # 0 rows: none)


def test_a_folder_written_by_an_older_build_is_taken_over_with_its_leftovers(tmp_path):
    prefs(tmp_path / "a.jsonl", "a")
    out = tmp_path / "out"
    for name in ("sft", "pairwise", ".staging-123", ".old-sft-99"):
        (out / name).mkdir(parents=True)
        (out / name / "train.parquet").write_bytes(b"old")
    (out / "report.json").write_text(json.dumps({"steps": [], "ledger": {}, "version": "0.1"}))
    elsewhere = tmp_path / "big-disk" / "unary"  # the user had linked unary/ to another disk
    elsewhere.mkdir(parents=True)
    (elsewhere / "keep.parquet").write_bytes(b"precious")
    os.symlink(elsewhere, out / "unary")
    run_build(load_recipe_dict(spec(tmp_path, out)), quiet=True)
    assert out.is_symlink() and pl.read_parquet(out / "sft" / "train.parquet").height == 6
    assert (elsewhere / "keep.parquet").read_bytes() == b"precious"  # a link is never followed
    assert sorted(p.name for p in store_of(out).iterdir()) == ["builds", "cache", "lock"]


def test_a_users_symlink_as_outputs_dir_is_followed(tmp_path):
    prefs(tmp_path / "a.jsonl", "a")
    disk = tmp_path / "disk"
    disk.mkdir()
    os.symlink(disk / "out", tmp_path / "out")  # dangling: the build creates disk/out
    result = run_build(load_recipe_dict(spec(tmp_path, tmp_path / "out")), quiet=True)
    assert result.out_dir == disk / "out" and (disk / "out" / "sft" / "train.parquet").is_file()
    assert store_of(disk / "out").is_dir()


HOLD = """
import sys, time
from datatools.out_folder import OutFolder
with OutFolder(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_build_is_refused_while_one_holds_the_lock_and_a_killed_holder_frees_it(tmp_path):
    prefs(tmp_path / "a.jsonl", "a")
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BuildLockedError, match=f"another build is writing OUT \\(pid {holder.pid}\\)"):
            run_build(load_recipe_dict(spec(tmp_path, out)), quiet=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    run_build(load_recipe_dict(spec(tmp_path, out)), quiet=True)  # the kernel freed the lock
    assert (out / "pairwise" / "train.parquet").is_file()


def test_the_store_of_a_folder_must_be_ours(tmp_path):
    (tmp_path / ".out.datatools").mkdir()
    (tmp_path / ".out.datatools" / "notes").write_text("mine")
    with pytest.raises(ConfigError, match="not a datatools build store"):
        OutFolder(tmp_path / "out").check()


BUILD = """
import sys
from datatools.pipeline import run_build
from datatools.recipe import load_recipe
run_build(load_recipe(sys.argv[1]), quiet=True)
"""


def consistent(out: Path) -> str:
    """The source tag every visible file agrees on; fails if two builds are mixed."""
    report = json.loads((out / "report.json").read_text())
    tags = {Path(report["recipe_dump"]["sources"][0]["path"]).stem}
    for kind in ("pairwise", "sft"):
        tags |= {s.split(":")[0].rsplit("/", 1)[-1].split(".")[0]
                 for s in pl.read_parquet(out / kind / "train.parquet")["source"]}
    assert (out / "README.md").is_file() and (out / "rejects" / "rejects.parquet").is_file()
    assert len(tags) == 1, tags
    return tags.pop()


@pytest.mark.slow
def test_sigkill_at_random_moments_shows_one_whole_build_and_the_next_run_cleans_up(tmp_path):
    """Alternate builds of two different sources, SIGKILL each at a random moment: OUT always
    shows one whole build (every file from the same source), never a mix or a missing part."""
    import random

    prefs(tmp_path / "a.jsonl", "a", n=40)
    prefs(tmp_path / "b.jsonl", "b", n=30)
    out = tmp_path / "out"
    recipes = []
    for tag in "ab":
        path = tmp_path / f"{tag}.yaml"
        path.write_text(yaml.safe_dump(spec(tmp_path, out, f"{tag}.jsonl")))
        recipes.append(path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", BUILD, str(recipes[0])], check=True, cwd=REPO, env=env)
    seen = {consistent(out)}
    rng = random.Random(7)
    for i in range(8):
        child = subprocess.Popen([sys.executable, "-c", BUILD, str(recipes[(i + 1) % 2])],
                                 cwd=REPO, env=env)
        time.sleep(rng.uniform(0.5, 4.0))
        child.send_signal(signal.SIGKILL)
        child.wait()
        seen.add(consistent(out))
    subprocess.run([sys.executable, "-c", BUILD, str(recipes[1])], check=True, cwd=REPO, env=env)
    assert consistent(out) == "b"
    assert len(list((store_of(out) / "builds").iterdir())) == 1  # killed builds' staging gone
    assert seen <= {"a", "b"}
