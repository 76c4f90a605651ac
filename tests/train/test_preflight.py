"""Pre-flight finds the rows TRL would silently mistrain on, with the exact tokenizer/template."""
from __future__ import annotations

import datasets
import polars as pl
import pytest
from transformers import AutoTokenizer

from datatools.schemas.errors import ConfigError, QualityGateError
from datatools.train.preflight import preflight

U = [{"role": "user", "content": "please write one two"}]


def _a(text):
    return [{"role": "assistant", "content": text}]


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _pairs():
    long = " ".join(["seven eight nine"] * 30)
    rows = [
        {"id": "ok", "prompt": U, "chosen": _a("yes good"), "rejected": _a("no bad")},
        {"id": "same", "prompt": U, "chosen": _a("yes good"), "rejected": _a("yes good")},
        {"id": "long_prompt", "prompt": [{"role": "user", "content": long}],
         "chosen": _a("good"), "rejected": _a("bad")},
        {"id": "eos", "prompt": U, "chosen": _a("good " + "one " * 30), "rejected": _a("bad")},
        {"id": "trunc", "prompt": U, "chosen": _a("good " + long), "rejected": _a("bad")},
    ]
    return datasets.Dataset.from_list([{**r, "source": f"t:{r['id']}"} for r in rows])


def test_quarantine_writes_ledger(tok, tmp_path):
    kept, rejects = preflight(_pairs(), tok, "dpo", 48, 4, "quarantine", tmp_path)
    assert kept["id"] == ["ok"]
    reasons = {(r["id"], r["reason"]) for r in rejects.to_dicts()}
    assert ("same", "preflight.identical_pair") in reasons
    assert ("long_prompt", "preflight.prompt_too_long") in reasons
    assert ("eos", "preflight.eos_cut") in reasons
    assert ("trunc", "preflight.completion_truncated") in reasons
    assert ("eos", "preflight.completion_truncated") not in reasons  # most of it survives
    on_disk = pl.read_parquet(tmp_path / "preflight_rejects.parquet")
    assert {"step", "reason", "detail", "id", "source"} <= set(on_disk.columns)
    assert set(on_disk["step"]) == {"train.preflight"}
    assert "chosen:" in on_disk.filter(pl.col("id") == "eos")["detail"][0]


def test_stop_policy_raises_with_reasons(tok, tmp_path):
    with pytest.raises(QualityGateError) as err:
        preflight(_pairs(), tok, "dpo", 48, 4, "stop", tmp_path)
    text = str(err.value)
    assert "preflight:preflight.identical_pair" in text and "e.g. id same" in text


def test_prompt_not_prefix_of_full(tok, tmp_path):
    # a template whose generation prompt differs from how the prompt renders before an answer
    odd = tok.__class__.from_pretrained(tok.name_or_path)
    odd.chat_template = tok.chat_template.replace(
        "{{ '<|im_start|>assistant\n' }}{% endif %}", "{{ '<|im_start|>assistant\nthink\n' }}{% endif %}")
    ds = datasets.Dataset.from_list([{"id": "x", "source": "s", "prompt": U,
                                      "completion": _a("good"), "label": True}] * 2)
    with pytest.raises(QualityGateError, match="all 2 rows failed"):
        preflight(ds, odd, "kto", 64, 2, "quarantine", tmp_path)
    rejects = pl.read_parquet(tmp_path / "preflight_rejects.parquet")
    assert set(rejects["reason"]) == {"preflight.prompt_not_prefix"}


def test_kto_batch_of_one_is_a_config_error(tok):
    ds = datasets.Dataset.from_list([{"id": "x", "source": "s", "prompt": U,
                                      "completion": _a("good"), "label": True}])
    with pytest.raises(ConfigError, match="train.batch_size"):
        preflight(ds, tok, "kto", 64, 1)


def test_sft_messages_checked(tok):
    ds = datasets.Dataset.from_list([{"id": "a", "source": "s", "messages": U + _a("good")},
                                     {"id": "b", "source": "s", "messages": U + _a("one " * 40)}])
    kept, rejects = preflight(ds, tok, "sft", 32, 2)
    assert kept["id"] == ["a"] and "b" in set(rejects["id"])
