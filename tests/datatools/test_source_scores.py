"""Scores that real pairwise files carry (top level, nested, under other names) are read;
when a pair has none, inspect and the build summary say that 1.0 / 0.0 were synthesised."""
import json

import pytest

from datatools.inspect import inspect_path
from datatools.pipeline import run_build
from datatools.readers import read_source
from datatools.recipe import load_recipe_dict
from datatools.schemas.recipe import Source


def _pair(prompt, chosen, rejected, **extra):
    return {"prompt": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}], **extra}


NESTED = [  # an export that groups its extras: metadata {score_chosen, score_rejected, source}
    _pair("Summarise the plot of Hamlet.", "A prince avenges his father's murder.",
          "Hamlet is a comedy about a wedding.",
          metadata={"score_chosen": 9.0, "score_rejected": 2.0, "source": "evol_instruct"}),
    _pair("Name a noble gas.", "Neon.", "Neon is a noble gas.",
          metadata={"score_chosen": 8.5, "score_rejected": 8.0, "source": "flan"}),
    _pair("What is 2 + 2?", "4", "Four.",
          metadata={"score_chosen": 7.0, "score_rejected": 7.0, "source": "gsm"}),
]


def _write(tmp_path, rows, name="pairs.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("layout", [
    lambda sc, sr: {"metadata": {"score_chosen": sc, "score_rejected": sr}},
    lambda sc, sr: {"score_chosen": sc, "score_rejected": sr},
    lambda sc, sr: {"chosen-rating": sc, "rejected-rating": sr},       # argilla
    lambda sc, sr: {"chosen_rating": sc, "rejected_rating": sr},
    lambda sc, sr: {"scores": {"chosen": sc, "rejected": sr}},
])
def test_common_score_layouts_are_read(tmp_path, layout):
    rows = [_pair("q", "good", "bad", **layout(4.5, 3.0))]
    result = read_source(Source(path=str(_write(tmp_path, rows))), tmp_path)
    assert result.frame["score"].to_list() == [4.5, 3.0]
    assert result.scores_synthesised == 0 and result.notes() == []


def test_nested_scores_reach_min_margin_and_ties(tmp_path):
    path = _write(tmp_path, NESTED)
    result = run_build(load_recipe_dict({
        "name": "nested", "sources": [{"path": str(path)}], "steps": [{"validate": {}}],
        "outputs": {"dir": str(tmp_path / "out"), "pairwise": {"min_margin": 1.0}}}), quiet=True)
    pairs = result.datasets["pairwise"]
    assert pairs["score_chosen"].to_list() == [9.0] and pairs["score_rejected"].to_list() == [2.0]
    reasons = dict(zip(result.ledger["reason"], result.ledger["detail"]))
    assert "build.pairwise.low_margin" in reasons and "build.pairwise.tie" in reasons
    assert result.report["sources"][0]["notes"] == []


def test_dotted_keys_in_columns_map_a_layout_nobody_detects(tmp_path):
    rows = [_pair("q", "good", "bad", annotations={"quality": {"a": 0.9, "b": 0.4}})]
    path = _write(tmp_path, rows)
    source = Source(path=str(path), columns={"annotations.quality.a": "score_chosen",
                                             "annotations.quality.b": "score_rejected"})
    assert read_source(source, tmp_path).frame["score"].to_list() == [0.9, 0.4]
    with pytest.raises(Exception, match="annotations.quality.c not found"):
        read_source(Source(path=str(path), columns={"annotations.quality.c": "score_chosen"}),
                    tmp_path)


def test_synthesised_scores_are_said_in_inspect_and_the_build_summary(tmp_path, capsys):
    rows = [_pair(f"Question {i}?", f"Answer {i}.", f"Wrong {i}.") for i in range(3)]
    path = _write(tmp_path, rows)
    info = inspect_path(str(path))
    assert info["scores"] == "synthesised (1.0 / 0.0) for all pairs"
    assert "3 pairs had no scores" in info["notes"][0]
    assert inspect_path(str(_write(tmp_path, NESTED, "n.jsonl")))["scores"] == "read from the source"
    from datatools.summary import print_summary

    result = run_build(load_recipe_dict({
        "name": "synth", "sources": [{"path": str(path)}],
        "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}}}), quiet=True)
    print_summary(result.report)
    out = capsys.readouterr().out
    assert "note: pairs.jsonl: 3 pairs had no scores" in " ".join(out.split())
    assert result.report["sources"][0]["scores_synthesised"] == 3


def test_plain_trl_lines_read_columnar_count_synthesised_scores_too(tmp_path):
    rows = [{"prompt": f"Q{i}?", "chosen": f"Yes {i}.", "rejected": f"No {i}."} for i in range(4)]
    rows.append({"prompt": "Q9?", "chosen": "a", "rejected": "b", "score_chosen": 2, "score_rejected": 1})
    result = read_source(Source(path=str(_write(tmp_path, rows))), tmp_path)
    assert result.scores_synthesised == 4 and "4 pairs had no scores" in result.notes()[0]
