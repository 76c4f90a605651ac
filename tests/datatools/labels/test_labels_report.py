"""Label agreement where people read it: validate's conflict warning, the build summary, the
dataset card, report.html, and judge_agreement against a labelled subset."""
import json

import polars as pl
import pytest
from rich.console import Console

from datatools.labels.judge_agreement import JudgeAgreement, JudgeAgreementParams
from datatools.pipeline import run_build, run_step
from datatools.recipe import load_recipe_dict
from datatools.summary import print_summary

# LLaMA-Factory KTO demo shape (messages + label), one answer labelled by two annotators
# who disagree, and one labelled twice the same way.
KTO = [
    {"messages": [{"role": "user", "content": "Translate 'merci' to English."},
                  {"role": "assistant", "content": "Thank you."}], "label": True, "annotator": "a"},
    {"messages": [{"role": "user", "content": "Translate 'merci' to English."},
                  {"role": "assistant", "content": "Thank you."}], "label": False, "annotator": "b"},
    {"messages": [{"role": "user", "content": "Say hi."},
                  {"role": "assistant", "content": "Hi!"}], "label": True, "annotator": "a"},
    {"messages": [{"role": "user", "content": "Say hi."},
                  {"role": "assistant", "content": "Hi!"}], "label": True, "annotator": "b"},
]


def build(tmp_path, steps):
    (tmp_path / "kto.jsonl").write_text("\n".join(json.dumps(r) for r in KTO) + "\n")
    return run_build(load_recipe_dict({
        "name": "kto-labels", "sources": [{"path": "kto.jsonl"}], "steps": steps,
        "outputs": {"dir": "out", "unary": {}}}, path=tmp_path / "recipe.yaml"),
        quiet=True, use_cache=False)


def test_validate_warns_about_conflicting_labels_without_dropping(tmp_path):
    result = build(tmp_path, [{"validate": {}}])
    assert result.frame.height == 4  # a warning, not a drop: aggregate_labels decides
    stats = result.report["steps"][0]["stats"]
    assert stats["conflicting_labels"]["answers"] == 1
    assert stats["conflicting_labels"]["rows"] == 2
    (warning,) = stats["warnings"]
    assert "1 answer(s) carry conflicting labels across 2 rows" in warning
    assert "aggregate_labels combines them" in warning
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## Warnings" in card and "conflicting labels across 2 rows" in card
    console = Console(record=True, width=200)
    print_summary(result.report, console)
    assert "warning: steps[0].validate: 1 answer(s) carry conflicting labels" in \
        console.export_text()


def test_no_warning_once_labels_are_aggregated(tmp_path):
    result = build(tmp_path, [{"aggregate_labels": {}}, {"validate": {}}])
    assert result.report["steps"][1]["stats"] == {}
    assert "## Warnings" not in (tmp_path / "out" / "README.md").read_text()


def test_card_and_html_show_agreement(tmp_path):
    result = build(tmp_path, [{"aggregate_labels": {}}])
    stats = result.report["steps"][0]["stats"]
    # merci (T, F), hi (T, T): P̄ = (0 + 1)/2; p_T = 3/4 → P̄_e = 5/8; κ = (1/2 − 5/8)/(3/8)
    assert stats["fleiss_kappa"] == pytest.approx(-1 / 3, abs=1e-4)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## Label agreement" in card
    # α nominal: D_o = (2/1 + 0)/4 = 1/2; D_e = (16 − 3² − 1²)/(4·3) = 1/2 → α = 0
    assert stats["krippendorff_alpha"] == 0.0
    assert "| steps[0].aggregate_labels | label | majority | 2 | 2 | 1 | 0.5 | -0.3333 | " \
        "0 (nominal) |" in card
    # the tied answer is dropped; on the kept one both agree
    assert "| a | 2 | 1 | n/a |" in card and "| b | 2 | 1 | n/a |" in card
    console = Console(record=True, width=200)
    print_summary(result.report, console)
    assert ("label agreement: steps[0].aggregate_labels: 2 of 2 items with several votes, "
            "Fleiss' κ -0.333, Krippendorff's α 0 (nominal), 1 dropped (majority)") in \
        console.export_text()
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'id="labels"' in html and "Fleiss&#x27; κ" in html
    assert '<td class="n">-0.333</td>' in html


def judged_frame():
    """A labelled subset (the data's own `label` on 4 of 6 rows) and a judge's scores."""
    rows = [("q1", "a", 0.9, True), ("q1", "b", 0.2, False), ("q2", "c", 0.7, False),
            ("q2", "d", 0.4, True), ("q3", "e", 0.8, None), ("q3", "f", 0.1, None)]
    return pl.DataFrame([dict(id=i, candidate_id=f"{i}{c}", completion=c, judge_rubric=s,
                              label=lab, meta=json.dumps({"human": lab}) if lab is not None
                              else "{}") for i, c, s, lab in rows]).with_columns(
        pl.lit([{"role": "user", "content": "Q"}]).alias("prompt"))


def test_judge_agreement_against_labels_per_answer():
    step = JudgeAgreement(JudgeAgreementParams(judge="judge_rubric", reference="label"))
    kept, rejected = run_step(step, judged_frame(), "steps[0]")
    assert kept.height == 6 and rejected.height == 0
    # judge ≥ 0.5: T F T F vs labels T F F T → 2 of 4 agree; marginals 2/2 each → p_e 1/2, κ 0
    assert step.stats["compared"] == 4 and step.stats["agreement"] == 0.5
    assert step.stats["cohen_kappa"] == 0.0


def test_judge_agreement_per_pair_from_meta_reference():
    step = JudgeAgreement(JudgeAgreementParams(judge="judge_rubric", reference="meta.human",
                                               level="pair"))
    run_step(step, judged_frame(), "steps[0]")
    # q1: judge prefers a, humans a; q2: judge c, humans d; q3 has no reference
    assert step.stats["compared"] == 2 and step.stats["agreement"] == 0.5
