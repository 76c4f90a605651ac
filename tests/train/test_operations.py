"""Operations: TensorBoard scalars, an offline wandb run, checkpoints + `--resume` after a real kill -9, SFT masking on
a chat template without generation markers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from datatools.schemas.train import TrainSection
from tests.train.conftest import planted_pairs

REPO = Path(__file__).resolve().parents[2]


def _pairwise(tmp_path, n=64):
    data = tmp_path / "pairwise"
    data.mkdir(exist_ok=True)
    pl.DataFrame(planted_pairs(n, seed=12)).write_parquet(data / "data.parquet")
    return data


@pytest.mark.slow
def test_tensorboard_events_hold_the_training_scalars(tiny_model_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from datatools.train.run import run_training

    section = TrainSection(model=str(tiny_model_dir), method="dpo", data=str(_pairwise(tmp_path)),
                           max_steps=4, batch_size=4, max_length=96, cpu=True, samples=0,
                           report_to="tensorboard", trainer_args={"logging_steps": 1},
                           output_dir=str(tmp_path / "run"))
    run_training(section)
    events = list((tmp_path / "run").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file written"
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/rewards/chosen", "train/rewards/rejected",
            "train/rewards/margins"} <= tags
    assert len(acc.Scalars("train/loss")) == 4


def _wandb_history(run_file: Path) -> list[dict]:
    """The history rows of an offline wandb run file: LevelDB-style log records (a 7-byte file
    header, then 32 KiB blocks of records with a 7-byte header each: crc, length, type) holding
    wandb's protobuf `Record`s."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, block, buf, rows = run_file.read_bytes(), 7, 32768, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        buf += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: one record is complete
            record = pb.Record()
            record.ParseFromString(buf)
            buf = b""
            if record.WhichOneof("record_type") == "history":
                rows.append({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                             for i in record.history.item})
    return rows


def test_wandb_offline_run_holds_the_training_scalars(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is in the dev extra")
    from datatools.train.run import run_training

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_DIR", raising=False)
    section = TrainSection(model=str(tiny_model_dir), method="dpo", data=str(_pairwise(tmp_path)),
                           max_steps=4, batch_size=4, max_length=96, cpu=True, samples=0,
                           report_to="wandb", trainer_args={"logging_steps": 1},
                           output_dir=str(tmp_path / "run"))
    run_training(section)
    assert "WANDB_DIR" not in os.environ, "the stage's wandb folder leaked into the environment"
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, "no offline wandb run in the stage's folder"
    history = _wandb_history(runs[0])
    steps = [row for row in history if "train/loss" in row]
    assert len(steps) == 4
    assert {"train/loss", "train/rewards/chosen", "train/rewards/rejected",
            "train/rewards/margins"} <= set(steps[0])
    import wandb

    assert wandb.run is None, "the stage's wandb run was left open"


@pytest.mark.slow
def test_kill_9_then_resume_reaches_the_same_step_count(tiny_model_dir, tmp_path):
    data, out = _pairwise(tmp_path, n=200), tmp_path / "run"
    cmd = [sys.executable, "-m", "datatools.train", "train", "--method", "dpo", "--data", str(data),
           "--model", str(tiny_model_dir), "--out", str(out), "--cpu", "--max-steps", "60",
           "--save-steps", "3", "--batch-size", "4", "--max-length", "96"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "eval.json").exists(), "the run finished before it was killed"
    # The kill may land mid-save: the newest folder is then incomplete and must be passed over.
    from datatools.train.methods.common import last_checkpoint
    newest_complete = last_checkpoint(out)
    assert newest_complete and int(newest_complete.rsplit("-", 1)[1]) < 60
    done = subprocess.run(cmd + ["--resume"], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    stage = json.loads((out / "eval.json").read_text())["stages"][0]
    assert stage["global_step"] == 60
    assert Path(stage["resumed_from"]).name == Path(newest_complete).name


def test_sft_without_generation_markers_trains_every_assistant_turn(tiny_model_dir, tmp_path):
    import datasets

    from datatools.schemas.train import Stage
    from tests.tiny_models import CHAT_TEMPLATE
    from datatools.train.loading import load_model
    from datatools.train.methods import sft

    model, tok = load_model(str(tiny_model_dir), cpu=True)
    tok.chat_template = CHAT_TEMPLATE.replace("{% generation %}", "").replace(
        "{% endgeneration %}", "")
    conv = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "two"}, {"role": "assistant", "content": "second answer"}]
    ds = datasets.Dataset.from_list([{"messages": conv}] * 4)
    prepared, _, facts = sft.prepare(ds, None, Stage(method="sft"), tok)
    assert facts["sft_masking"].startswith("completion-only, one prompt–completion row per")
    assert len(prepared) == 8 and prepared[1]["completion"][0]["content"] == "second answer"
    trainer = sft.trainer(model, tok, prepared, Stage(method="sft", max_steps=1, batch_size=2,
                                                      max_length=96), tmp_path, cpu=True)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    for ids, labels in zip(batch["input_ids"], batch["labels"]):
        trained = tok.decode([t for t, lab in zip(ids.tolist(), labels.tolist()) if lab != -100])
        assert "answer" in trained and "one" not in trained and "two" not in trained
    assert trainer.train().training_loss > 0
    with_markers = sft.prepare(ds, None, Stage(method="sft"), load_model(str(tiny_model_dir),
                                                                         cpu=True)[1])
    assert with_markers[2]["sft_masking"].startswith("assistant-only")


def test_resume_passes_over_a_checkpoint_killed_mid_save(tmp_path):
    from datatools.train.methods.common import last_checkpoint

    def checkpoint(step, *names):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        for name in names:
            (folder / name).write_text("{}")

    assert last_checkpoint(tmp_path) is None
    checkpoint(9, "trainer_state.json", "adapter_model.safetensors", "optimizer.pt")
    checkpoint(15, "trainer_state.json", "adapter_model.safetensors", "optimizer.pt")
    checkpoint(18, "adapter_model.safetensors")              # killed before the state was written
    checkpoint(21, "trainer_state.json", "optimizer.pt")     # killed before the weights landed
    assert Path(last_checkpoint(tmp_path)).name == "checkpoint-15"
