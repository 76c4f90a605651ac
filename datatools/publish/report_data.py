"""The numbers behind report.html, read from a build folder (OUT, or the staging folder while
a build is being written). Each function returns plain Python data, or an empty value when
the part it needs was not built, so the page can say "not built" instead of failing.
"""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl


SCORE_PREFIXES = ("judge_", "aspect_", "tox_", "check_")
_CLUSTER = re.compile(r"\(cluster ([^,)\s]+)")


def read(folder: Path, *parts: str) -> pl.DataFrame | None:
    path = Path(folder).joinpath(*parts)
    return pl.read_parquet(path) if path.is_file() else None


def scan(folder: Path, *parts: str) -> pl.LazyFrame | None:
    """Lazy: the report reads only the columns (and rows) it plots. Reading a 1M-record
    build's candidates and pairs whole took GBs of memory for a few numeric columns."""
    path = Path(folder).joinpath(*parts)
    return pl.scan_parquet(path) if path.is_file() else None


def read_scores(folder: Path) -> pl.DataFrame | None:
    """The score-like columns of OUT/candidates (what `score_columns` plots)."""
    lf = scan(folder, "candidates", "candidates.parquet")
    if lf is None:
        return None
    names = [n for n, t in lf.collect_schema().items() if _is_score(n, t)]
    return lf.select(names).collect()


def read_near_dups(folder: Path) -> pl.LazyFrame | None:
    """The ledger, lazily: `near_dup_clusters` reads only what it counts."""
    return scan(folder, "rejects", "rejects.parquet")


def _is_score(name: str, dtype: pl.DataType) -> bool:
    return (name == "score" or name.startswith(SCORE_PREFIXES)) and (
        dtype.is_numeric() or dtype == pl.Boolean)


def funnel(report: dict) -> list[tuple[str, float]]:
    """Records (prompts), one unit throughout: read, after each step, and the records each
    built dataset has examples for (a pair, an SFT example, KTO rows of one prompt)."""
    steps = report.get("steps") or []
    items = [("read", steps[0].get("records_in", 0) if steps else report.get("final_records", 0))]
    items += [(s.get("location") or s["name"], s.get("records_out", 0)) for s in steps]
    items += [(f"→ {kind}", meta.get("records", meta.get("rows", 0)))
              for kind, meta in (report.get("outputs") or {}).items()]
    return items


def pearson_missing_reason(lb: dict) -> str:
    """Why the length-bias correlation could not be computed, in words."""
    n = lb["pairs_with_scores"]
    if n < 3:
        return f"n/a: {n} pair(s) with both scores; the correlation needs at least 3"
    if lb["margin_min"] == lb["margin_max"]:
        return (f"n/a: every pair has the same score margin ({lb['margin_min']:g}), e.g. "
                "scores synthesised as 1.0 / 0.0: nothing to correlate")
    return "n/a: every pair has the same length difference"


def sample_drops(folder: Path, per_reason: int = 3, chars: int = 240) -> dict[str, list[dict]]:
    """A few ledger rows per reason (source, detail, the record's start), so a user can see
    what a filter removed: the first `per_reason` of each reason, reasons in order of first
    appearance. The rows are picked on the narrow `reason` column and only they are read from
    the wide `record` (decoding the whole column took 0.6 GB and 1.2 s at a million records)."""
    rejects = scan(folder, "rejects", "rejects.parquet")
    if rejects is None:
        return {}
    picked = (rejects.select("reason").with_row_index("row")
              .group_by("reason", maintain_order=True).head(per_reason).collect())["row"]
    wanted = pl.col("reason", "source", "detail"), pl.col("record").str.slice(0, chars)
    by_row: dict[int, dict] = {}
    for start, n in _runs(sorted(picked.to_list())):  # a slice is read from its row group only
        rows = rejects.slice(start, n).select(*wanted).collect().iter_rows(named=True)
        by_row.update(zip(range(start, start + n), rows))
    out: dict[str, list[dict]] = {}
    for row in picked:
        out.setdefault(by_row[row]["reason"], []).append(by_row[row])
    return out


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers → (first, count) of each run of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and row == runs[-1][0] + runs[-1][1]:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((row, 1))
    return runs


def drops(report: dict) -> list[tuple[str, float]]:
    by_reason = (report.get("ledger") or {}).get("by_reason") or {}
    return sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))


def score_columns(candidates: pl.DataFrame | None) -> dict[str, list[float]]:
    """`score` and every numeric judge_/aspect_/tox_/check_ column, as value lists."""
    if candidates is None:
        return {}
    out = {}
    for name, dtype in candidates.schema.items():
        if _is_score(name, dtype):
            values = candidates[name].cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
            if len(values):
                out[name] = values
    return out


def _text_len(turns: pl.Expr) -> pl.Expr:
    # Int64: len_chars is unsigned, and chosen − rejected must be allowed to go negative
    return (turns.list.eval(pl.element().struct.field("content").str.len_chars())
            .list.sum().cast(pl.Int64))


CHART_PAIRS = 100_000  # pairs drawn in the length charts: the first ones (the numbers use all)


def length_bias(pairs: pl.DataFrame | pl.LazyFrame | None) -> dict | None:
    """Chosen vs rejected lengths (characters) and how the score margin tracks the length gap.

    A strong positive correlation, or chosen being longer in most pairs, means a DPO model
    trained on this can learn "longer is better" rather than "better is better".
    The numbers are sums over every pair, streamed (Pearson's r from the sums of d, m, d²,
    m², dm); the charts' arrays hold the first CHART_PAIRS pairs, so the memory does not grow
    with the dataset (three numbers per pair were ~0.5 GB at 10M pairs).
    """
    if pairs is None:
        return None
    lf = pairs.lazy().select(
        _text_len(pl.col("chosen")).alias("c"), _text_len(pl.col("rejected")).alias("r"),
        (pl.col("score_chosen") - pl.col("score_rejected")).alias("m"))
    both = pl.all_horizontal(pl.col("c", "r", "m").is_not_null())
    d = pl.when(both).then((pl.col("c") - pl.col("r")).cast(pl.Float64))
    m = pl.when(both).then(pl.col("m").cast(pl.Float64))
    sums = lf.select(
        pl.len().alias("pairs"), both.sum().alias("n"),
        pl.col("c").cast(pl.Float64).mean().alias("mean_chosen"),
        pl.col("r").cast(pl.Float64).mean().alias("mean_rejected"),
        (d > 0).mean().alias("chosen_longer"), d.sum().alias("sd"), m.sum().alias("sm"),
        (d * d).sum().alias("sdd"), (m * m).sum().alias("smm"), (d * m).sum().alias("sdm"),
        m.min().alias("margin_min"), m.max().alias("margin_max"),
    ).collect(engine="streaming").row(0, named=True)
    head = lf.head(CHART_PAIRS).collect(engine="streaming")
    both_head = head.drop_nulls()
    return {
        "pairs": sums["pairs"], "pairs_with_scores": sums["n"],
        "chosen": head["c"].drop_nulls().to_numpy().astype(float),
        "rejected": head["r"].drop_nulls().to_numpy().astype(float),
        "diff": (both_head["c"] - both_head["r"]).cast(pl.Float64).to_numpy(),
        "margin": both_head["m"].cast(pl.Float64).to_numpy(),
        "charted": head.height, "pearson": _pearson_of_sums(sums),
        "chosen_longer": sums["chosen_longer"] if sums["n"] else None,
        "mean_chosen": sums["mean_chosen"], "mean_rejected": sums["mean_rejected"],
        "margin_min": sums["margin_min"], "margin_max": sums["margin_max"],
    }


def _pearson_of_sums(s: dict) -> float | None:
    """Pearson's r from n and the sums of d, m, d², m², dm; None for fewer than 3 pairs or a
    constant side (as `svg.pearson`)."""
    n = s["n"]
    if n < 3:
        return None
    sxx = s["sdd"] - s["sd"] ** 2 / n
    syy = s["smm"] - s["sm"] ** 2 / n
    # rounding can leave a constant side a hair above 0: relative to its raw sum of squares
    if sxx <= 1e-12 * max(s["sdd"], 1e-300) or syy <= 1e-12 * max(s["smm"], 1e-300):
        return None
    return (s["sdm"] - s["sd"] * s["sm"] / n) / (sxx * syy) ** 0.5


def label_balance(folder: Path, report: dict) -> dict | None:
    unary = read(folder, "unary", "train.parquet")
    if unary is None:
        return None
    meta = (report.get("outputs") or {}).get("unary") or {}
    n_d = int(unary["label"].sum() or 0)
    return {"desirable": n_d, "undesirable": unary.height - n_d,
            "desirable_weight": meta.get("desirable_weight"),
            "undesirable_weight": meta.get("undesirable_weight"),
            "weighted_ratio": meta.get("weighted_ratio")}


def near_dup_clusters(rejects: pl.DataFrame | pl.LazyFrame | None) -> dict[str, int]:
    """{cluster id: size} from the ledger's near_dedup rows: the kept member plus its drops.

    The cluster comes from the row's `near_dedup_cluster` (in the record JSON) or, for ledgers
    that lack it, from the detail text; record-level drops count records, not candidate rows.
    """
    if rejects is None:
        return {}
    detail = pl.col("detail").fill_null("")
    counted = (
        rejects.lazy().filter(pl.col("reason").str.starts_with("near_dedup"))
        .select(
            pl.coalesce(pl.col("record").str.json_path_match("$.near_dedup_cluster"),
                        detail.str.extract(_CLUSTER.pattern, 1)).alias("cluster"),
            pl.when(detail.str.contains("of candidate", literal=True))
            .then(pl.col("candidate_id"))
            .otherwise(pl.coalesce("id", "candidate_id")).alias("member"))
        .drop_nulls("cluster")
        .group_by("cluster").agg(pl.col("member").n_unique())
        .collect(engine="streaming")
    )
    return {c: n + 1 for c, n in counted.iter_rows()}


def cluster_size_counts(clusters: dict[str, int]) -> list[tuple[str, float]]:
    sizes: dict[int, int] = {}
    for size in clusters.values():
        sizes[size] = sizes.get(size, 0) + 1
    return [(f"size {s}", n) for s, n in sorted(sizes.items())]
