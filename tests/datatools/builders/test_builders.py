"""Builders: pairwise / unary / sft from one judged candidate frame."""
import datasets
import polars as pl
import pytest

from datatools.builders.pairwise import build_pairwise
from datatools.builders.sft import build_sft
from datatools.builders.unary import build_unary, kto_weights
from datatools.frame import frame_from_rows, rows_from_record
from datatools.schemas.recipe import PairwiseParams, SFTParams, UnaryParams

P = [{"role": "user", "content": "q"}]


def judged():
    rows = []
    rows += rows_from_record("best-worst", "s:1", P, [{"content": "good", "score": 5},
                                                      {"content": "mid", "score": 3},
                                                      {"content": "bad", "score": 1}])
    rows += rows_from_record("tie", "s:2", P, [{"content": "x", "score": 2}, {"content": "y", "score": 2}])
    rows += rows_from_record("single", "s:3", P, [{"content": "only"}])
    rows += rows_from_record("close", "s:4", P, [{"content": "a", "score": 2.0}, {"content": "b", "score": 1.9}])
    return frame_from_rows(rows)


def test_pairwise_best_vs_worst_and_skip_reasons():
    pairs, skipped = build_pairwise(judged())
    got = {r["id"]: (r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in pairs.iter_rows(named=True)}
    assert got == {"best-worst": ("good", "bad"), "close": ("a", "b")}
    assert dict(zip(skipped["id"], skipped["reason"])) == {
        "tie": "build.pairwise.tie", "single": "build.pairwise.single_candidate"}


def test_pairwise_min_margin_and_random_lower_is_seeded():
    pairs, skipped = build_pairwise(judged(), PairwiseParams(min_margin=0.5))
    assert pairs["id"].to_list() == ["best-worst"]
    assert "build.pairwise.low_margin" in skipped["reason"].to_list()
    picks = {build_pairwise(judged(), PairwiseParams(rejected="random_lower"), seed=s)[0]
             .filter(pl.col("id") == "best-worst")["rejected"][0][0]["content"] for s in range(20)}
    assert picks == {"mid", "bad"}  # only strictly lower candidates, and both get picked
    a = build_pairwise(judged(), PairwiseParams(rejected="random_lower"), seed=3)[0]
    b = build_pairwise(judged(), PairwiseParams(rejected="random_lower"), seed=3)[0]
    assert a.equals(b)


@pytest.mark.parametrize("n_d,n_u", [(10, 100), (100, 10), (10, 10), (12, 10), (1, 3)])
def test_kto_weights_satisfy_eq8(n_d, n_u):
    w_d, w_u = kto_weights(n_d, n_u)
    assert 1.0 <= w_d * n_d / (w_u * n_u) <= 4 / 3 + 1e-9
    assert min(w_d, w_u) == 1.0


def test_unary_interleaves_labels_and_stores_weights():
    rows = []
    for i in range(6):  # best → desirable, worst → undesirable; 3 candidates per record
        rows += rows_from_record(f"r{i}", "s", P, [{"content": f"g{i}", "score": 2}, {"content": f"b{i}", "score": 1}])
    rows += rows_from_record("extra", "s", P, [{"content": "e", "label": True}])
    data, skipped, meta = build_unary(frame_from_rows(rows))
    labels = data["label"].to_list()
    assert labels[:12] == [True, False] * 6 and labels[12:] == [True]
    assert meta["n_desirable"] == 7 and meta["n_undesirable"] == 6
    assert 1 <= meta["weighted_ratio"] <= 4 / 3
    assert skipped.height == 0


def test_unary_threshold_pairs_mode_and_downsample():
    data, skipped, _ = build_unary(judged(), UnaryParams(threshold=2.0))
    assert sorted(data.filter(pl.col("label"))["completion"].list.first().struct.field("content")) == ["a", "good", "mid", "x", "y"]
    assert skipped["reason"].to_list() == ["build.unary.unlabelled"]  # "only" has no score
    data, _, meta = build_unary(judged(), UnaryParams(mode="pairs"))
    assert data.height == 4 and meta["n_desirable"] == meta["n_undesirable"] == 2
    data, skipped, meta = build_unary(judged(), UnaryParams(threshold=2.0, balance="downsample"))
    assert meta["n_desirable"] == meta["n_undesirable"] == 2  # 5 desirable cut to the 2 undesirable
    assert skipped["reason"].to_list().count("build.unary.downsampled") == 3


def test_sft_best_answer_and_min_score():
    data, skipped = build_sft(judged())
    best = {r["id"]: r["messages"][-1]["content"] for r in data.iter_rows(named=True)}
    assert best["best-worst"] == "good" and best["single"] == "only"
    assert data["messages"][0][0]["role"] == "user" and data["messages"][0][-1]["role"] == "assistant"
    data, skipped = build_sft(judged(), SFTParams(min_score=2.0))
    assert set(data["id"]) == {"best-worst", "tie", "close"}
    assert set(skipped["reason"]) == {"build.sft.low_score"}


def _sft_reference(frame, min_score=None):
    """The rule in plain Python, one record at a time: the first best-scored answer; a single
    unscored answer; several unscored answers are unranked; below min_score is skipped."""
    records: dict[str, list[dict]] = {}
    for r in frame.iter_rows(named=True):
        records.setdefault(r["id"], []).append(r)
    rows, skipped = [], []
    for rid, group in records.items():
        answers = [r for r in group if r["completion"] is not None]
        if not answers:  # a prompt-only record: ledgered, never silently missing
            skipped.append((rid, "build.sft.no_completion"))
            continue
        scores = [r["score"] if r["score"] is not None
                  else (None if r["label"] is None else float(r["label"])) for r in answers]
        scored = [j for j, x in enumerate(scores) if x is not None]
        if scored:
            i = max(scored, key=lambda j: scores[j])
        elif len(answers) == 1:
            i = 0
        else:
            skipped.append((rid, "build.sft.unranked"))
            continue
        if min_score is not None and (scores[i] is None or scores[i] < min_score):
            skipped.append((rid, "build.sft.low_score"))
            continue
        a = answers[i]
        rows.append((rid, a["source"], a["prompt"] + [{"role": "assistant", "content": a["completion"]}],
                     scores[i], a["model"], a["meta"]))
    return rows, skipped


@pytest.mark.parametrize("min_score", [None, 0.5])
def test_sft_best_answers_equal_the_per_record_rule(min_score):
    import random

    rng = random.Random(7)
    rows = []
    for r in range(300):
        n = rng.choice([1, 1, 2, 3, 4])
        cands = []
        for k in range(n):
            score = rng.choice([None, None, 0.0, 0.25, 0.5, 1.0, 1.0])
            label = rng.choice([None, None, True, False]) if score is None else None
            cands.append({"content": rng.choice(["a", "b", f"t{r}-{k}"]), "score": score,
                          "label": label, "model": f"m{k}"})
        prompt = [{"role": "system", "content": "s"}] * rng.randint(0, 1) + [
            {"role": "user", "content": f"q{r}"}]
        rows += rows_from_record(f"r{r}", f"f:{r}", prompt, cands, {"k": r} if r % 3 else None)
    frame = frame_from_rows(rows)
    frame = frame.with_columns(  # a few rows without an answer (prompt-only, not yet generated)
        pl.when(pl.int_range(pl.len()) % 17 == 5).then(None).otherwise(pl.col("completion"))
        .alias("completion"))
    data, skipped = build_sft(frame, SFTParams(min_score=min_score))
    want_rows, want_skipped = _sft_reference(frame, min_score)
    assert [tuple(r.values()) for r in data.iter_rows(named=True)] == want_rows
    assert sorted(zip(skipped["id"], skipped["reason"])) == sorted(want_skipped)
    assert any(reason == "build.sft.unranked" for _, reason in want_skipped)


def _random_candidate_frame(seed: int, records: int = 300):
    """Records of 1-4 answers with tied, missing and label-only scores, some without an answer."""
    import random

    rng = random.Random(seed)
    rows = []
    for r in range(records):
        cands = []
        for k in range(rng.choice([1, 1, 2, 3, 4])):
            score = rng.choice([None, None, 0.0, 0.25, 0.5, 1.0, 1.0])
            label = rng.choice([None, None, True, False]) if score is None else None
            cands.append({"content": rng.choice(["a", "b", f"t{r}-{k}"]), "score": score,
                          "label": label, "model": f"m{k}"})
        rows += rows_from_record(f"r{r}", f"f:{r}", [{"role": "user", "content": f"q{r}"}],
                                 cands, {"k": r} if r % 3 else None)
    frame = frame_from_rows(rows)
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 17 == 5).then(None).otherwise(pl.col("completion"))
        .alias("completion"))


def test_pairwise_pairs_equal_the_per_record_rule():
    """chosen = the first best-ranked answer, rejected = the first worst one (nulls skipped);
    records with fewer than two answers or scores, or only ties, make no pair."""
    frame = _random_candidate_frame(11)
    records: dict[str, list[dict]] = {}
    for r in frame.iter_rows(named=True):
        if r["completion"] is not None:
            records.setdefault(r["id"], []).append(r)
    want, want_skipped = [], []
    for rid, answers in records.items():
        scores = [a["score"] if a["score"] is not None
                  else (None if a["label"] is None else float(a["label"])) for a in answers]
        scored = [j for j, x in enumerate(scores) if x is not None]
        if len(answers) < 2 or len(scored) < 2:
            want_skipped.append((rid, "single_candidate" if len(answers) < 2 else "unscored"))
            continue
        best = max(scored, key=lambda j: scores[j])   # max/min keep the first of equals
        worst = min(scored, key=lambda j: scores[j])
        if scores[best] == scores[worst]:
            want_skipped.append((rid, "tie"))
            continue
        want.append((rid, answers[best]["completion"], answers[worst]["completion"],
                     scores[best], scores[worst]))
    pairs, skipped = build_pairwise(frame)
    got = [(r["id"], r["chosen"][0]["content"], r["rejected"][0]["content"], r["score_chosen"],
            r["score_rejected"]) for r in pairs.iter_rows(named=True)]
    assert got == want
    reasons = {(i, w.removeprefix("build.pairwise.")) for i, w in zip(skipped["id"], skipped["reason"])}
    assert set(want_skipped) <= reasons
    assert {"tie", "unscored", "single_candidate"} <= {w for _, w in want_skipped}


def test_outputs_load_with_datasets_in_trl_columns(tmp_path):
    pairs, _ = build_pairwise(judged())
    (tmp_path / "pairwise").mkdir()
    pairs.write_parquet(tmp_path / "pairwise" / "train.parquet")
    ds = datasets.load_dataset("parquet", data_dir=str(tmp_path / "pairwise"))["train"]
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names)
    assert ds[0]["chosen"] == [{"role": "assistant", "content": "good"}]


def test_one_ranking_rule_everywhere():
    """Pairwise, SFT, export (convert) and the filters' per-row role pick the same answer."""
    from datatools.builders.ranking import candidate_role
    from datatools.formats.export import canonical_examples

    rows = rows_from_record("r", "s", P, [{"content": "mid", "score": 3},
                                          {"content": "top", "score": 5},
                                          {"content": "also-top", "score": 5},
                                          {"content": "low", "score": 1}])
    frame = frame_from_rows(rows)
    pair = build_pairwise(frame)[0].row(0, named=True)
    sft = build_sft(frame)[0]["messages"][0][-1]["content"]
    exported = [p for kind, _, p in canonical_examples(frame) if kind == "pairwise"]
    roles = frame.with_columns(candidate_role().alias("role"))
    first_best = roles.filter(pl.col("role") == "chosen")["completion"][0]
    assert pair["chosen"][0]["content"] == sft == exported[0][0] == first_best == "top"
    assert pair["rejected"][0]["content"] == exported[0][1] == "low"


def test_trainer_uses_the_builders_kto_weights():
    from datatools.train.data import kto_weights as trainer_weights

    for n_d, n_u in [(10, 100), (100, 10), (12, 10)]:
        ds = datasets.Dataset.from_dict({"label": [True] * n_d + [False] * n_u})
        assert trainer_weights("/nonexistent", ds)[:2] == kto_weights(n_d, n_u)
