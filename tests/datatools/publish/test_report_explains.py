"""report.html explains itself: one unit in the funnel, synthesised scores noted, why the
length-bias correlation is missing, and a few dropped rows per reason."""
import json

from datatools.pipeline import run_build
from datatools.recipe import load_recipe_dict


def test_report_names_units_notes_synthesised_scores_and_shows_dropped_rows(tmp_path):
    rows = [{"prompt": f"Question number {i}?", "chosen": f"A careful answer {i}.",
             "rejected": "OK." if i % 2 else f"A wrong answer {i}."} for i in range(6)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_build(load_recipe_dict({
        "name": "explain", "sources": [{"path": str(path)}], "steps": [{"low_info": {}}],
        "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}, "sft": {}}}), quiet=True)
    html = (result.out_dir / "report.html").read_text()
    assert "records per stage" in html and "records in" in html and "rows kept" in html
    assert "6 pairs had no scores in the source" in html
    assert "every pair has the same score margin (1)" in html  # the reason r is n/a
    assert "Dropped rows: samples per reason" in html and "low_info.completion" in html
    assert "completion is a stock phrase: OK." in html
    assert result.report["outputs"]["pairwise"]["records"] == 3
