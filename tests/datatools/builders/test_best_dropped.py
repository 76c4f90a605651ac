"""SFT (and rank-based KTO labels) only take a record's best answer as it was ranked.

The file is shaped like UltraFeedback-binarized: an explicit prompt string, chosen / rejected
as whole dialogues, `messages`, `prompt_id`, and score_chosen / score_rejected."""
import json

import polars as pl
import pytest

from datatools.pipeline import run_build
from datatools.recipe import load_recipe_dict
from datatools.schemas.errors import QualityGateError


def _ufb(prompt, chosen, rejected, sc, sr, pid):
    user = {"role": "user", "content": prompt}
    return {"prompt": prompt, "prompt_id": pid,
            "chosen": [user, {"role": "assistant", "content": chosen}],
            "rejected": [user, {"role": "assistant", "content": rejected}],
            "messages": [user, {"role": "assistant", "content": chosen}],
            "score_chosen": sc, "score_rejected": sr}


ROWS = [
    # the chosen answer is a stock reply low_info drops: the rejected one must not become "best"
    _ufb("Write a haiku about autumn leaves.", "Sure.",
         "Leaves are green in spring and they are also green in autumn, always.", 7.0, 2.0, "a"),
    _ufb("Explain why the sea is salty.",
         "Rivers carry dissolved minerals from rocks into the sea, and evaporation leaves the salt.",
         "The sea is salty because fish cry a lot.", 9.0, 1.0, "b"),
]


def _build(tmp_path, outputs):
    path = tmp_path / "ultrafeedback_binarized.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return run_build(load_recipe_dict({
        "name": "ufb", "sources": [{"path": str(path)}],
        "steps": [{"validate": {}}, {"low_info": {}}],
        "outputs": {"dir": str(tmp_path / "out"), **outputs}}), quiet=True)


def test_sft_does_not_promote_the_rejected_answer_when_the_chosen_is_dropped(tmp_path):
    result = _build(tmp_path, {"sft": {"source": "best"}, "pairwise": {}})
    sft = result.datasets["sft"]
    answers = [m[-1]["content"] for m in sft["messages"].to_list()]
    assert answers == [ROWS[1]["chosen"][1]["content"]]
    assert not any("always" in a for a in answers)  # the rejected answer never reaches SFT
    ledger = result.ledger
    row = ledger.filter(pl.col("reason") == "build.sft.best_dropped")
    assert row.height == 1 and "low_info" in row["detail"][0] and "score 7" in row["detail"][0]
    assert ledger.filter(pl.col("reason") == "low_info.completion").height == 1
    # the pairwise builder has a single candidate left for that record and says so
    assert "build.pairwise.single_candidate" in ledger["reason"].to_list()


def test_sft_chosen_source_and_unary_ranks_follow_the_same_rule(tmp_path):
    result = _build(tmp_path, {"sft": {"source": "chosen"}, "unary": {}})
    assert result.datasets["sft"].height == 1
    unary = result.datasets["unary"]
    desirable = [c[0]["content"] for c in unary.filter(pl.col("label"))["completion"].to_list()]
    assert desirable == [ROWS[1]["chosen"][1]["content"]]
    reasons = result.ledger["reason"].to_list()
    assert "build.unary.best_dropped" in reasons


def test_a_step_that_writes_scores_ranks_afresh(tmp_path):
    """low_info drops the best, then a judge re-scores what is left: its best is the best."""
    rows = [{"prompt": "Name the largest planet.", "completions": [
        {"response": "OK.", "overall_score": 9},
        {"response": "Jupiter is the largest planet in the solar system.", "overall_score": 5},
        {"response": "The largest planet is Mars, the red one.", "overall_score": 1}]}]
    path = tmp_path / "ultrafeedback.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {"name": "rejudge", "sources": [{"path": str(path)}],
              "outputs": {"dir": str(tmp_path / "out"), "sft": {}}}
    with pytest.raises(QualityGateError, match="1 build.sft.best_dropped"):  # nothing left
        run_build(load_recipe_dict({**recipe, "steps": [{"low_info": {}}]}), quiet=True)
    rejudged = run_build(load_recipe_dict({**recipe, "steps": [
        {"low_info": {}}, {"verifiable": {"constraints": {"max_words": 20}}}]}), quiet=True)
    assert "build.sft.best_dropped" not in rejudged.ledger["reason"].to_list()
    assert rejudged.datasets["sft"].height == 1
