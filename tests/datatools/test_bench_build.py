"""`datatools bench build` smoke test: a small synthetic build runs end to end and reports
per-step seconds, rows and peak RSS; the planted duplicates are dropped."""
import json

from typer.testing import CliRunner


def test_bench_build_smoke(tmp_path):
    from datatools.bench.build import run_build_bench

    r = run_build_bench(records=2000, workdir=tmp_path)
    assert r["rows_read"] == 4000  # pairwise: one row per candidate
    for step in ("validate", "exact_dedup", "near_dedup", "length"):
        assert r[f"{step}_s"] >= 0
    # whole-record copies go to exact_dedup, prompt near-copies to near_dedup (2 rows each)
    assert r["rejected"]["exact_dedup"] >= 2 * r["planted_exact"] * 0.9
    assert r["rejected"]["near_dedup"] >= 2 * r["planted_near_prompts"] * 0.9
    assert 0 < r["pairwise_rows"] < 2000
    assert r["total_s"] > 0 and r["peak_rss_mb"] > 0
    assert not list(tmp_path.iterdir())  # the temp dir is cleaned up


def test_bench_build_cli(tmp_path):
    from datatools.cli import app

    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["bench", "build", "--records", "500", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["records"] == 500
