"""report.html: one offline page with inline SVG plots; parsed here, and looked at by a person
in headless Chromium (see the README) before the feature was called done."""
from __future__ import annotations

import shutil
from html.parser import HTMLParser

import numpy as np
import polars as pl
import pytest

from datatools.publish.errors import NotABuildError
from datatools.publish.report_html import render_report
from datatools.publish.svg import bins_for, pearson


class Page(HTMLParser):
    """Counts tags, collects text per element id, and notes anything that would load remotely."""

    def __init__(self):
        super().__init__()
        self.tags: dict[str, int] = {}
        self.ids: dict[str, str] = {}
        self.remote: list[str] = []
        self.text: list[str] = []
        self._open_id: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        attrs = dict(attrs)
        for key in ("src", "href"):
            if attrs.get(key, "").startswith(("http:", "https:", "//")):
                self.remote.append(attrs[key])
        if tag == "script":
            self.remote.append("<script>")
        if "id" in attrs:
            self._open_id = attrs["id"]
            self.ids[self._open_id] = ""

    def handle_data(self, data):
        self.text.append(data)
        if self._open_id is not None:
            self.ids[self._open_id] += data

    def handle_endtag(self, tag):
        self._open_id = None if tag == "span" else self._open_id


def parse(path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_report_renders_every_section_with_plots(built):
    out, report = built
    page = parse(out / "report.html")
    assert page.remote == []  # self-contained: no scripts, no CDN, no remote images
    for anchor in ("overview", "funnel", "scores", "length", "balance", "near-dups"):
        assert anchor in page.ids
    # funnel + drops, 5 score histograms, length histogram + scatter, KTO bars, cluster sizes
    assert page.tags["svg"] == 2 + 5 + 2 + 1 + 1
    text = " ".join(page.text)
    for column in ("score", "judge_rubric", "judge_reward_model", "aspect_helpfulness",
                   "aspect_honesty"):
        assert column in text
    assert "near_dedup.cluster" in text and "build.unary.unlabelled" in text
    unary = report["outputs"]["unary"]
    assert f"{unary['n_desirable']}" in text and "Possible length bias" in text
    assert "3 clusters; 6 members dropped" in text


def test_length_bias_pearson_matches_numpy(built):
    out, _ = built
    pairs = pl.read_parquet(out / "pairwise" / "train.parquet")
    chosen = [sum(len(m["content"]) for m in turns) for turns in pairs["chosen"]]
    rejected = [sum(len(m["content"]) for m in turns) for turns in pairs["rejected"]]
    diff = np.array(chosen) - np.array(rejected)
    margin = (pairs["score_chosen"] - pairs["score_rejected"]).to_numpy()
    expected = np.corrcoef(diff, margin)[0, 1]
    assert expected > 0.3  # the fixture builds in a length bias
    shown = parse(out / "report.html").ids["length-pearson"]
    assert float(shown) == pytest.approx(expected, abs=5e-4)
    # the build measures the pairs it holds; `datatools report OUT` reads the written file
    from datatools.publish.report_data import length_bias

    in_memory = length_bias(pairs)
    from_file = length_bias(pl.scan_parquet(out / "pairwise" / "train.parquet"))
    assert from_file["pearson"] == pytest.approx(expected)
    assert np.array_equal(in_memory["diff"], from_file["diff"])



def test_length_numbers_use_every_pair_and_charts_the_first(built, monkeypatch):
    """Pearson's r, the share of longer chosen answers and the means come from sums over all
    pairs (streamed); only the charts' arrays are capped, at the first CHART_PAIRS pairs."""
    from datatools.publish import report_data

    out, _ = built
    pairs = pl.read_parquet(out / "pairwise" / "train.parquet")
    full = report_data.length_bias(pairs)
    monkeypatch.setattr(report_data, "CHART_PAIRS", 5)
    capped = report_data.length_bias(pl.scan_parquet(out / "pairwise" / "train.parquet"))
    assert pairs.height > 5 and capped["charted"] == 5 and len(capped["diff"]) <= 5
    assert np.array_equal(capped["diff"], full["diff"][:len(capped["diff"])])
    for key in ("pearson", "chosen_longer", "mean_chosen", "mean_rejected"):
        assert capped[key] == pytest.approx(full[key]), key
    diff, margin = full["diff"], full["margin"]
    assert full["pearson"] == pytest.approx(np.corrcoef(diff, margin)[0, 1])
    assert full["chosen_longer"] == pytest.approx((diff > 0).mean())


def test_missing_parts_are_noted_not_fatal(built, tmp_path):
    out, _ = built
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "pairwise")
    shutil.rmtree(copy / "unary")
    ledger = pl.read_parquet(copy / "rejects" / "rejects.parquet")
    ledger.filter(~pl.col("reason").str.starts_with("near_dedup")).write_parquet(
        copy / "rejects" / "rejects.parquet")
    text = " ".join(parse(render_report(copy)).text)
    assert "no pairwise dataset was built" in text
    assert "no unary (KTO) dataset was built" in text
    assert "no near-duplicates were dropped" in text


def test_clusters_from_detail_text_when_the_column_is_absent(built):
    from datatools.publish.report_data import near_dup_clusters

    out, _ = built
    ledger = pl.read_parquet(out / "rejects" / "rejects.parquet").with_columns(
        pl.lit("{}").alias("record"))
    assert near_dup_clusters(ledger) == {"r0": 2, "r1": 3, "r2": 4}


def test_not_a_build_folder(tmp_path):
    with pytest.raises(NotABuildError, match="not a datatools build folder"):
        render_report(tmp_path)


def test_svg_helpers():
    assert bins_for([1, 2, 5]) == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]  # one bin per rating
    assert len(bins_for([0.13, 0.5, 2.71])) == 21
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None


def test_drop_samples_read_only_the_sampled_records_and_equal_the_whole_column_rule(tmp_path):
    from datatools.publish.report_data import sample_drops

    reasons = ["length.prompt_words", "length.completion_words", "exact_dedup.duplicate"]
    ledger = pl.DataFrame({
        "reason": [reasons[(i // 2) % 3] if i > 4 else "validate.empty" for i in range(60)],
        "source": [None if i % 4 == 0 else f"s{i % 2}" for i in range(60)],
        "detail": [None if i % 5 == 0 else f"row {i}\tdetail" for i in range(60)],
        "record": ['{"i": %d, "t": "%s"}' % (i, "\u00e9\u3000x " * (i * 7)) for i in range(60)],
    })
    (tmp_path / "rejects").mkdir()
    ledger.write_parquet(tmp_path / "rejects" / "rejects.parquet", row_group_size=7)
    whole = (ledger.select("reason", "source", "detail", pl.col("record").str.slice(0, 240))
             .group_by("reason", maintain_order=True).head(3))
    want: dict = {}
    for row in whole.iter_rows(named=True):
        want.setdefault(row["reason"], []).append(row)
    got = sample_drops(tmp_path)
    assert len(want) == 4 and list(got) == list(want)  # reasons in order of first appearance
    assert got == want
    assert sample_drops(tmp_path / "missing") == {}
