"""Records a builder cannot use are ledgered (`build.<kind>.no_completion`), and a build whose
outputs are all empty fails, naming the source keys that were not read."""
import json

import polars as pl
import pytest

from datatools.pipeline import run_build
from datatools.recipe import load_recipe_dict
from datatools.schemas.errors import QualityGateError

# SQuAD-like rows: the answers sit in a nested object nobody mapped
QA = [{"id": f"q{i}", "question": f"Which river flows through city {i}?",
       "answers": {"text": [f"River {i}"], "answer_start": [3]}, "title": "Rivers"}
      for i in range(4)]


def _recipe(tmp_path, outputs, rows=QA):
    path = tmp_path / "squad_like.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_recipe_dict({
        "name": "qa", "sources": [{"path": str(path), "columns": {"question": "prompt"}}],
        "steps": [{"validate": {}}], "outputs": {"dir": str(tmp_path / "out"), **outputs}})


def test_prompt_only_records_get_a_ledger_row_per_builder_and_the_build_fails(tmp_path):
    with pytest.raises(QualityGateError) as err:
        run_build(_recipe(tmp_path, {"sft": {}, "pairwise": {}, "unary": {}}), quiet=True)
    message = str(err.value)
    assert "4 of 4 records had no completion" in message and "answers" in message
    assert "pairwise 0" in message and "sft 0" in message
    ledger = pl.read_parquet(tmp_path / "out" / "rejects" / "rejects.parquet")
    for kind in ("sft", "pairwise", "unary"):
        rows = ledger.filter(pl.col("reason") == f"build.{kind}.no_completion")
        assert sorted(rows["id"]) == ["q0", "q1", "q2", "q3"]
        assert "answers" in rows["detail"][0] and "title" in rows["detail"][0]


def test_a_build_with_some_rows_still_ledgers_the_prompt_only_records(tmp_path):
    rows = QA + [{"id": "ok", "question": "Capital of France?", "completion": "Paris."}]
    result = run_build(_recipe(tmp_path, {"sft": {}}, rows), quiet=True)
    assert result.datasets["sft"]["id"].to_list() == ["ok"]
    assert result.ledger.filter(pl.col("reason") == "build.sft.no_completion").height == 4
