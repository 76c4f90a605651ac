"""Pushing a build to the Hub, tested against FakeHub: a recording stand-in for the Hub on
127.0.0.1 (there is no Hub here), used for this one purpose. The real push code runs in a
subprocess with HF_ENDPOINT pointing at it and HF_HUB_DISABLE_XET=1, since huggingface_hub
reads both when it is imported; HF_HUB_OFFLINE is left unset there."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.datatools.publish.fake_hub import FakeHub, Repo

TOKEN = "hf_testTOKENthatMustNeverBePrinted"
CHILD = Path(__file__).with_name("push_child.py")
ROOT = Path(__file__).resolve().parents[3]


def run_child(hub: FakeHub, out: Path, repo_id: str, mode: str, tmp_path: Path,
              token: str | None = TOKEN) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "HUGGING_FACE", "TRANSFORMERS_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf-home"),
               HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH=str(ROOT))
    if token:
        env["HF_TOKEN"] = token
    proc = subprocess.run([sys.executable, str(CHILD), str(out), repo_id, mode], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):]), output


def test_push_one_repo_with_a_config_per_kind_and_read_it_back(built, tmp_path):
    out, report = built
    with FakeHub() as hub:
        # a previous push's shard of a kind we push again must not linger beside the new file
        hub.repos["acme/prefs"] = Repo()
        hub.repos["acme/prefs"].branches["main"] = {
            "pairwise/train-00000-of-00001.parquet": b"old", "notes.txt": b"keep me"}
        result, output = run_child(hub, out, "acme/prefs", "one", tmp_path)
        files = hub.repos["acme/prefs"].branches["main"]
        calls = list(hub.calls)
        messages = hub.repos["acme/prefs"].messages

    assert TOKEN not in output
    api_auth = [auth for _, path, auth in calls if path.startswith("/api/")]
    assert api_auth and all(auth == f"Bearer {TOKEN}" for auth in api_auth)
    assert sorted(files) == ["README.md", "notes.txt", "pairwise/metadata.json",
                             "pairwise/train.parquet", "sft/metadata.json", "sft/train.parquet",
                             "unary/metadata.json", "unary/train.parquet"]
    assert messages == ["datatools build fixture-prefs"]
    commits = [path for method, path, _ in calls if "/commit/" in path and method == "POST"]
    assert commits == ["/api/datasets/acme/prefs/commit/main"]  # data and card in one commit
    for kind in ("pairwise", "unary", "sft"):
        uploaded = pl.read_parquet(io.BytesIO(files[f"{kind}/train.parquet"]))
        assert uploaded.equals(pl.read_parquet(out / kind / "train.parquet"))
        assert result[kind]["rows"] == report["outputs"][kind]["rows"]
    assert {"prompt", "chosen", "rejected"} <= set(result["pairwise"]["columns"])
    assert {"prompt", "completion", "label"} <= set(result["unary"]["columns"])
    # two candidate rows (chosen, rejected) per pair
    assert result["reread"] == {"rows": 2 * report["outputs"]["pairwise"]["rows"],
                                "format": "trl"}

    card = files["README.md"].decode()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert [c["config_name"] for c in meta["configs"]] == ["pairwise", "unary", "sft"]
    assert meta["license"] == "cc-by-4.0" and meta["size_categories"] == ["n<1K"]
    assert 'load_dataset("acme/prefs", "pairwise", split="train")' in card
    assert "| steps[3].judge_rubric | judge | `judge-large` | openai |" in card
    assert "## KTO weights" in card and "a1b2c3d" in card


def test_push_separate_repos(built, tmp_path):
    out, report = built
    with FakeHub() as hub:
        result, output = run_child(hub, out, "acme/prefs", "separate", tmp_path)
        repos = {name: sorted(r.branches["main"]) for name, r in hub.repos.items()}
        private = {name: r.private for name, r in hub.repos.items()}
        cards = {name: r.branches["main"]["README.md"].decode() for name, r in hub.repos.items()}
    assert TOKEN not in output
    assert repos == {f"acme/prefs-{k}": ["README.md", f"{k}/metadata.json", f"{k}/train.parquet"]
                     for k in ("pairwise", "unary", "sft")}
    assert all(private.values())
    meta = yaml.safe_load(cards["acme/prefs-unary"].split("---\n")[1])
    assert [c["config_name"] for c in meta["configs"]] == ["unary"]
    assert "## KTO weights" in cards["acme/prefs-unary"]
    assert "## KTO weights" not in cards["acme/prefs-pairwise"]


def test_push_without_a_token_is_a_clear_user_error(built, tmp_path):
    out, _ = built
    with FakeHub() as hub:
        result, _ = run_child(hub, out, "acme/prefs", "one", tmp_path, token=None)
        assert hub.calls == []  # nothing was sent
    assert "no Hugging Face token found" in result["error"]


def test_push_refuses_a_folder_that_is_not_a_build(tmp_path):
    from datatools.publish.errors import NotABuildError
    from datatools.publish.hub import push_dataset

    with pytest.raises(NotABuildError, match="no report.json"):
        push_dataset(tmp_path, "acme/prefs", token="x")


def test_push_to_an_unreachable_endpoint_is_one_clear_error(built, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class Dead:
        url = f"http://127.0.0.1:{port}"

    result, output = run_child(Dead(), built[0], "acme/prefs", "one", tmp_path)
    assert result["error"].startswith("could not reach the Hub while pushing to acme/prefs")
    assert "Traceback" not in output and TOKEN not in output
