"""`datatools bench build` smoke test: a small synthetic build runs end to end as its own
`datatools build` process and reports per-step seconds, rows, whole-process CPU and peak RSS,
and the per-phase profile; the planted duplicates are dropped."""
import json

import polars as pl
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
    assert r["total_s"] > 0 and r["cpu_s"] > 0 and r["peak_rss_mb"] > 50
    assert r["host_busy_pct"] > 0 and 0 <= r["host_steal_pct"] < 100  # the build was busy
    names = [p["phase"] for p in r["profile"]]
    assert names[0] == "start-up" and names[-1] == "total"
    assert any(n.startswith("read ") for n in names)
    for expected in ("0. validate", "3. length", "builders", "write outputs"):
        assert expected in names
    writes = r["profile"][names.index("write outputs")]
    assert [p["phase"] for p in writes["parts"]] == ["write rejects (ledger)", "write pairwise",
                                                    "write report.html"]
    # the profile's phases cover the process: their sum is close to the measured wall
    assert r["profile"][-1]["wall_s"] <= r["total_s"] + 0.5
    assert 0 < r["startup_to_first_work_s"] < r["total_s"]
    assert not list(tmp_path.iterdir())  # the temp dir is cleaned up


def test_generator_writes_in_chunks_with_planted_copies(tmp_path):
    from datatools.bench.build import make_records

    path = tmp_path / "r.jsonl"
    planted = make_records(path, 1000, seed=3, chunk=300)  # 4 chunks: 300, 300, 300, 100
    frame = pl.read_ndjson(path)
    assert frame.height == 1000 and frame.columns == ["prompt", "chosen", "rejected"]
    assert planted["planted_exact"] == 6 + 6 + 6 + 2
    # every planted exact copy repeats a whole earlier record
    assert frame.height - frame.unique().height >= planted["planted_exact"] - 1
    # the same seed gives the same file, whatever else ran before
    again = tmp_path / "again.jsonl"
    make_records(again, 1000, seed=3, chunk=300)
    assert again.read_bytes() == path.read_bytes()


def test_bench_build_cli(tmp_path):
    from datatools.cli import app

    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["bench", "build", "--records", "500", "--profile",
                                   "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["records"] == 500
    assert "CPU/wall" in res.output and "start-up" in res.output
