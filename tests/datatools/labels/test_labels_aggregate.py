"""aggregate_labels on data shaped like real multi-annotator files, through real builds."""
import json
import random

import polars as pl
import pytest

from datatools.labels.aggregate import AggregateLabels, AggregateLabelsParams
from datatools.pipeline import run_build, run_step
from datatools.recipe import load_recipe_dict
from datatools.schemas.errors import ConfigError, UserError

Q_WALL = "Is the Great Wall of China visible from space?"
A_WALL = "No. From low Earth orbit it is too narrow to see with the naked eye."
Q_SUM = "What is 17 + 25?"


def write_jsonl(path, records, bom=False):
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def swift_kto(tmp_path):
    """ms-swift KTO rows (query/response/label) with the labeller in `annotator`, as a
    3-annotator labelling run exports them: one row per (answer, annotator)."""
    rows = [
        (Q_WALL, A_WALL, True, "ann_1"), (Q_WALL, A_WALL, True, "ann_2"),
        (Q_WALL, A_WALL, False, "ann_3"),
        (Q_SUM, "42", True, "ann_1"), (Q_SUM, "42", True, "ann_2"), (Q_SUM, "42", True, "ann_3"),
        (Q_SUM, "43", False, "ann_1"), (Q_SUM, "43", True, "ann_2"),       # 1 of 2: a tie
        ("好的，请问明天会下雨吗？", "明天有雨，记得带伞。", True, "ann_3"),   # single label
    ]
    return write_jsonl(tmp_path / "kto.jsonl", [
        {"query": q, "response": a, "label": lab, "annotator": who} for q, a, lab, who in rows])


def build(tmp_path, steps, outputs=None, sources=None):
    return run_build(load_recipe_dict({
        "name": "labels", "sources": sources or [{"path": "kto.jsonl"}], "steps": steps,
        "outputs": {"dir": str(tmp_path / "out"), **(outputs or {"unary": {}})},
    }, path=tmp_path / "recipe.yaml"), quiet=True, use_cache=False)


def test_majority_keeps_one_row_per_answer_and_ledgers_the_rest(tmp_path):
    swift_kto(tmp_path)
    result = build(tmp_path, [{"validate": {}}, {"aggregate_labels": {}}])
    frame = result.frame.sort("completion")
    assert frame["completion"].to_list() == ["42", A_WALL, "明天有雨，记得带伞。"]
    assert frame["label"].to_list() == [True, True, True]
    assert frame["label_votes"].to_list() == [3, 3, 1]
    assert frame["label_agreement"].to_list() == pytest.approx([1.0, 2 / 3, 1.0])
    ledger = result.ledger.filter(pl.col("step") == "aggregate_labels")
    by_reason = dict(ledger.group_by("reason").len().iter_rows())
    assert by_reason == {"labels.merged": 4, "labels.disagreement": 2}
    tie = ledger.filter(pl.col("reason") == "labels.disagreement")
    assert tie["detail"].to_list() == ["1 of 2 said undesirable, 1 desirable: a tie (majority)"] * 2
    assert [json.loads(r)["completion"] for r in tie["record"]] == ["43", "43"]
    merged = ledger.filter(pl.col("reason") == "labels.merged")["detail"].to_list()
    assert any("2 of 3 said desirable, 1 undesirable" in d for d in merged)
    # the unary dataset: one row per answer, its meta records the vote instead of ann_1's name
    unary = result.datasets["unary"]
    assert unary.height == 3
    wall = json.loads(unary.filter(
        pl.col("completion").list.first().struct.field("content") == A_WALL)["meta"][0])
    assert "annotator" not in wall
    assert wall["labels"] == {"method": "majority", "support": 0.6667,
                              "votes": {"desirable": 2, "undesirable": 1},
                              "annotators": ["ann_1", "ann_2", "ann_3"]}


def test_agreement_statistics_in_report(tmp_path):
    swift_kto(tmp_path)
    result = build(tmp_path, [{"aggregate_labels": {"min_agreement": 0.75}}])
    stats = result.report["steps"][0]["stats"]
    # items with several votes: wall (T,T,F), 42 (T,T,T), 43 (F,T); single: 明天
    # P_i = 1/3, 1, 0 → P̄ = 4/9; votes T 6, F 2 → P̄_e = 36/64 + 4/64 = 40/64
    # κ = (4/9 − 5/8) / (1 − 5/8) = −13/27
    assert stats["fleiss_kappa"] == pytest.approx(-13 / 27, abs=1e-4)
    assert stats["items"] == 4 and stats["items_with_several_votes"] == 3
    # min_agreement 0.75 also drops the 2-of-3 wall answer: 2 of 4 items dropped
    assert stats["items_dropped"] == 2 and stats["share_dropped"] == 0.5
    assert stats["by_annotator"]["ann_1"] == {"votes": 3, "agrees_with_kept": 1.0}
    assert stats["by_annotator"]["ann_2"]["votes"] == 3
    source = stats["by_source"]["kto.jsonl"]
    assert source["items"] == 4 and source["fleiss_kappa"] == stats["fleiss_kappa"]
    wall = result.ledger.filter(pl.col("detail").str.contains("agreement 0.667"))
    assert wall.height == 3 and wall["reason"].unique().to_list() == ["labels.disagreement"]


def test_unanimous_drops_any_dissent(tmp_path):
    swift_kto(tmp_path)
    result = build(tmp_path, [{"aggregate_labels": {"method": "unanimous"}}])
    assert sorted(result.frame["completion"]) == ["42", "明天有雨，记得带伞。"]
    details = result.ledger.filter(pl.col("reason") == "labels.disagreement")["detail"]
    assert details.to_list() == ["2 of 3 said desirable, 1 undesirable: not unanimous"] * 3 + [
        "1 of 2 said undesirable, 1 desirable: not unanimous"] * 2


def test_labels_from_two_sources_one_per_annotator(tmp_path):
    """Each annotator's file read as its own source: ids collide across sources and are
    suffixed `~1`; the answers still group, and κ is per source None (no item twice in one)."""
    for who, labels in (("alice", [True, False]), ("bob", [True, True])):
        write_jsonl(tmp_path / f"{who}.jsonl", [
            {"messages": [{"role": "user", "content": Q_SUM},
                          {"role": "assistant", "content": a}], "label": lab, "labeler": who}
            for a, lab in zip(["42", "43"], labels)])
    result = build(tmp_path, [{"aggregate_labels": {}}],
                   sources=[{"path": "alice.jsonl"}, {"path": "bob.jsonl"}])
    assert result.frame["completion"].to_list() == ["42"]
    stats = result.report["steps"][0]["stats"]
    assert stats["annotators"] == 2 and set(stats["by_annotator"]) == {"alice", "bob"}
    assert all(s["fleiss_kappa"] is None for s in stats["by_source"].values())
    # 42: (T, T), 43: (F, T): P̄ = 1/2, p_T = 3/4 → P̄_e = 5/8, κ = (1/2 − 5/8)/(3/8) = −1/3
    assert stats["fleiss_kappa"] == pytest.approx(-1 / 3, abs=1e-4)


def pref(prompt, chosen, rejected, judge):
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "judge": judge}


def test_pair_level_majority_over_repeated_judgements(tmp_path):
    """The same pair judged by three judges (TRL preference rows, `judge` key); one judge saw
    it the other way round. The kept record's scores are the vote shares."""
    good, bad = "Paris is the capital of France.", "Lyon."
    write_jsonl(tmp_path / "prefs.jsonl", [
        pref("Capital of France?", good, bad, "gpt-4o"),
        pref("Capital of France?", bad, good, "llama-70b"),
        pref("Capital of France?", good, bad, "qwen-72b"),
        pref("Capital of Peru?", "Lima.", "Cusco.", "gpt-4o"),
        pref("Capital of Peru?", "Cusco.", "Lima.", "llama-70b"),
    ])
    result = build(tmp_path, [{"aggregate_labels": {"level": "pair", "min_agreement": 0.6}}],
                   outputs={"pairwise": {}}, sources=[{"path": "prefs.jsonl"}])
    pairs = result.datasets["pairwise"]
    assert pairs.height == 1
    assert pairs["chosen"][0][0]["content"] == good
    assert pairs["score_chosen"][0] == pytest.approx(2 / 3)
    assert pairs["score_rejected"][0] == pytest.approx(1 / 3)
    ledger = result.ledger.filter(pl.col("step") == "aggregate_labels")
    assert dict(ledger.group_by("reason").len().iter_rows()) == {
        "labels.merged": 4, "labels.disagreement": 4}
    peru = ledger.filter(pl.col("reason") == "labels.disagreement")["detail"][0]
    assert peru.startswith("1 of 2 preferred") and peru.endswith("a tie (majority)")
    stats = result.report["steps"][0]["stats"]
    assert stats["value"] == "preference" and stats["items"] == 2
    assert set(stats["by_annotator"]) == {"gpt-4o", "llama-70b", "qwen-72b"}


def test_pair_level_mean_of_ratings(tmp_path):
    """UltraFeedback-style pairs with ratings, rated twice: mean per answer, max_spread."""
    recs = [
        {"prompt": "Explain DNS.", "chosen": "A resolver maps names to IPs.", "rejected": "DNS.",
         "score_chosen": 8.0, "score_rejected": 3.0, "rater": "r1"},
        {"prompt": "Explain DNS.", "chosen": "A resolver maps names to IPs.", "rejected": "DNS.",
         "score_chosen": 9.0, "score_rejected": 2.0, "rater": "r2"},
        {"prompt": "Explain TCP.", "chosen": "Reliable streams.", "rejected": "Packets.",
         "score_chosen": 9.0, "score_rejected": 1.0, "rater": "r1"},
        {"prompt": "Explain TCP.", "chosen": "Packets.", "rejected": "Reliable streams.",
         "score_chosen": 7.0, "score_rejected": 6.0, "rater": "r2"},
    ]
    write_jsonl(tmp_path / "rated.jsonl", recs)
    result = build(tmp_path, [{"aggregate_labels": {"level": "pair", "method": "mean",
                                                     "max_spread": 4}}],
                   outputs={"pairwise": {}}, sources=[{"path": "rated.jsonl"}])
    pairs = result.datasets["pairwise"]
    assert pairs.height == 1  # TCP: margins +8 and −1, std 4.5 > 4 → disagreement
    assert (pairs["score_chosen"][0], pairs["score_rejected"][0]) == (8.5, 2.5)
    tcp = result.ledger.filter(pl.col("reason") == "labels.disagreement")["detail"][0]
    assert "standard deviation 4.5 > max_spread 4" in tcp
    # scores → α interval over the margins is not computed for pairs; κ over preferences is
    assert result.report["steps"][0]["stats"]["alpha_metric"] == "nominal"


def test_several_judge_runs_side_by_side_as_columns():
    """judge_pairwise run twice (`name: run1`, `name: run2`) writes two win-rate columns; with
    `columns` each is one rater of each pair."""
    frame = pl.DataFrame([
        dict(id="r1", candidate_id="r1-0", source="c.parquet:0", completion="Answer one.",
             judge_run1=1.0, judge_run2=1.0, judge_run3=0.0),
        dict(id="r1", candidate_id="r1-1", source="c.parquet:1", completion="Answer two.",
             judge_run1=0.0, judge_run2=0.0, judge_run3=1.0),
    ]).with_columns(pl.lit([{"role": "user", "content": "Q?"}]).alias("prompt"),
                    pl.lit(None, pl.Float64).alias("score"), pl.lit(None, pl.Boolean).alias("label"),
                    pl.lit("{}").alias("meta"))
    step = AggregateLabels(AggregateLabelsParams(
        level="pair", columns=["judge_run1", "judge_run2", "judge_run3"]))
    kept, rejected = run_step(step, frame, "steps[0]")
    assert rejected.height == 0
    assert kept["score"].to_list() == pytest.approx([2 / 3, 1 / 3])
    assert kept["label_votes"].to_list() == [3, 3]
    assert set(step.stats["by_annotator"]) == {"judge_run1", "judge_run2", "judge_run3"}


def test_answer_level_ratings_mean_and_alpha():
    """Three raters give 1–5 ratings to the same answers (columns); mean with α interval."""
    frame = pl.DataFrame([
        dict(id=f"q{i}", candidate_id=f"q{i}-0", source=f"r.jsonl:{i}", completion=f"a{i}",
             rating_a=a, rating_b=b, rating_c=c)
        for i, (a, b, c) in enumerate([(1, 2, None), (3, 3, None), (2, 4, None), (5, 5, 4)])
    ]).with_columns(pl.lit([{"role": "user", "content": "Q?"}]).alias("prompt"),
                    pl.lit(None, pl.Float64).alias("score"), pl.lit(None, pl.Boolean).alias("label"),
                    pl.lit("{}").alias("meta"))
    step = AggregateLabels(AggregateLabelsParams(method="mean",
                                                 columns=["rating_a", "rating_b", "rating_c"]))
    kept, rejected = run_step(step, frame, "steps[0]")
    assert kept["score"].to_list() == pytest.approx([1.5, 3.0, 3.0, 14 / 3])
    assert step.stats["alpha_metric"] == "interval" and step.stats["fleiss_kappa"] is None
    # units (1,2) (3,3) (2,4) (5,5,4), n = 9: D_o = (2 + 0 + 8 + 2(3·66 − 14²)/2) / 9 = 12/9;
    # all values Σv = 29, Σv² = 109: D_e = 2(9·109 − 29²) / (9·8) = 280/72; α = 1 − 12/9 · 72/280
    assert step.stats["krippendorff_alpha"] == pytest.approx(1 - (12 / 9) / (280 / 72), abs=1e-4)


def test_dawid_skene_outvotes_spammers():
    """Two careful annotators (90% right) and three who answer 'desirable' 85% of the time
    regardless: majority follows the spammers, Dawid–Skene learns to ignore them."""
    rng = random.Random(7)
    rows, truth = [], {}
    for i in range(200):
        t = rng.random() < 0.5
        truth[f"A{i}"] = t
        for who in ("care_1", "care_2", "spam_1", "spam_2", "spam_3"):
            said = (t if rng.random() < 0.9 else not t) if who.startswith("care") \
                else rng.random() < 0.85
            rows.append(dict(id=f"r{len(rows)}", completion=f"A{i}", label=said,
                             meta=json.dumps({"annotator": who})))
    frame = pl.DataFrame(rows).with_columns(
        pl.col("id").alias("candidate_id"), pl.lit("votes.jsonl:1").alias("source"),
        pl.lit([{"role": "user", "content": "Rate it."}]).alias("prompt"),
        pl.lit(None, pl.Float64).alias("score"))

    def accuracy(method):
        step = AggregateLabels(AggregateLabelsParams(method=method, min_agreement=0))
        kept, _ = run_step(step, frame, "steps[0]")
        right = sum(truth[a] == lab for a, lab in zip(kept["completion"], kept["label"]))
        return right / len(truth), step.stats

    majority_acc, _ = accuracy("majority")
    ds_acc, stats = accuracy("dawid_skene")
    assert majority_acc < 0.75 and ds_acc > 0.85, (majority_acc, ds_acc)
    acc = {who: s["dawid_skene_accuracy"] for who, s in stats["by_annotator"].items()}
    assert min(acc["care_1"], acc["care_2"]) > 0.8 > 0.65 > max(
        acc["spam_1"], acc["spam_2"], acc["spam_3"])


def test_dawid_skene_without_annotators_is_a_clear_error(tmp_path):
    write_jsonl(tmp_path / "kto.jsonl", [{"prompt": "Q", "completion": "A", "label": True}] * 2)
    with pytest.raises(UserError, match="dawid_skene needs to know who gave each vote"):
        build(tmp_path, [{"aggregate_labels": {"method": "dawid_skene"}}])


def test_params_are_checked_before_work(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_recipe_dict({"name": "x", "sources": [{"path": "x.jsonl"}], "outputs": {"dir": "o"},
                          "steps": [{"aggregate_labels": {"method": "mean", "threshold": 3}},
                                    {"aggregate_labels": {"min_agreement": 1.5}}]})
    text = str(err.value)
    assert "steps[0].aggregate_labels" in text and "threshold" in text
    assert "steps[1].aggregate_labels.min_agreement" in text
