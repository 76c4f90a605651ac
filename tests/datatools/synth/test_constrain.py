"""constrain_prompts: seeded IFEval constraints attached to seed prompts, a held-out split that
training never sees, duplicates and replaced seed answers ledgered with reasons."""
import json

import polars as pl
import pytest

from datatools.frame import frame_from_rows, rows_from_record
from datatools.step import StepContext
from datatools.synth.constrain import ConstrainParams, ConstrainPrompts
from datatools.verifiers import IFEVAL_CHECKS, parse_constraints, score_completion

TOPICS = ("photosynthesis", "the French revolution", "black holes", "compound interest",
          "volcanoes", "the immune system", "sorting algorithms", "tides", "inflation", "bees")


def seed_frame(n=40, answered=()):
    rows = []
    for i in range(n):
        q = f"Explain {TOPICS[i % len(TOPICS)]} to a curious student, example number {i}."
        answers = [{"content": "A seed answer."}] if i in answered else []
        rows += rows_from_record(f"s{i}", "seeds.jsonl:%d" % (i + 1),
                                 [{"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": q}], answers, {"topic": i})
    return frame_from_rows(rows)


def run(frame, seed=0, **params):
    step = ConstrainPrompts(ConstrainParams(**params), StepContext(quiet=True, seed=seed))
    kept, rejected = step(frame)
    accounted = set(kept["id"]) | set(rejected["id"])
    assert set(frame["id"]) <= accounted  # every seed record kept or ledgered
    return kept, rejected


def test_constraints_written_to_meta_and_prompt():
    kept, rejected = run(seed_frame(answered={3, 7}), variants=2, max_constraints=3)
    reasons = rejected["reason"].to_list()
    assert reasons.count("constrain_prompts.answer_replaced") == 2  # the two seed answers
    # two variants of one seed that drew the same constraints are one prompt, kept once
    assert kept.height + reasons.count("constrain_prompts.duplicate") == 80
    assert kept.height >= 75 and kept["completion"].null_count() == kept.height
    used = set()
    for row in kept.iter_rows(named=True):
        meta = json.loads(row["meta"])
        assert meta["topic"] is not None and meta["seed_id"].startswith("s")  # meta kept
        parsed = parse_constraints(meta["constraints"])
        assert 1 <= len(parsed) <= 3
        used |= {name for name, _ in parsed}
        assert row["prompt"][0] == {"role": "system", "content": "Be brief."}
        user = row["prompt"][-1]["content"]
        assert user.startswith("Explain ") and "\n\n" in user  # the instruction was appended
        if "detectable_format:json_format" in dict(parsed):
            assert len(parsed) == 1  # JSON goes alone
    assert len(used) >= 20  # drawn from the whole IFEval set
    again, _ = run(seed_frame(answered={3, 7}), variants=2, max_constraints=3)
    assert again.equals(kept)  # seeded
    other, _ = run(seed_frame(answered={3, 7}), seed=1, variants=2, max_constraints=3)
    assert not other["prompt"].equals(kept["prompt"])


def test_duplicates_dropped_with_reason():
    frame = pl.concat([seed_frame(3), seed_frame(3).with_columns(
        (pl.col("id") + "b").alias("id"), (pl.col("candidate_id") + "b").alias("candidate_id"))])
    kept, rejected = run(frame, types=["punctuation:no_comma"], max_constraints=1)
    assert kept.height == 3
    assert rejected["reason"].to_list() == ["constrain_prompts.duplicate"] * 3
    assert "same prompt and constraints as s0" in rejected["detail"][0]


def ngrams(text, n=8):
    words = text.lower().replace(",", " ").replace(".", " ").split()
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def test_held_out_split_never_overlaps_training():
    # 40 prompts sharing 8-word runs with their topic mates, 20 with nothing in common
    frame = seed_frame(40)
    unique = seed_frame(20).with_columns(
        (pl.col("id") + "u").alias("id"), (pl.col("candidate_id") + "u").alias("candidate_id"),
        pl.Series("prompt", [[{"role": "user", "content": f"Question {i}: what is {i} * {i+3}?"}]
                             for i in range(20)]))
    kept, rejected = run(pl.concat([frame, unique]), variants=3, held_out_fraction=0.3)
    metas = [json.loads(m) for m in kept["meta"]]
    split_of_seed = {}
    for m in metas:
        assert split_of_seed.setdefault(m["seed_id"], m["split"]) == m["split"]  # one side
    held = {s for s, v in split_of_seed.items() if v == "held_out"}
    assert 0 < len(held) < len(split_of_seed)
    seed_text = {json.loads(m)["seed_id"]: p[-1]["content"].split("\n\n")[0]
                 for m, p in zip(kept["meta"], kept["prompt"])}
    held_grams = set().union(*(ngrams(seed_text[s]) for s in held))
    train = [s for s in split_of_seed if s not in held]
    assert train and all(not ngrams(seed_text[s]) & held_grams for s in train)
    overlapping = rejected.filter(pl.col("reason") == "constrain_prompts.overlaps_held_out")
    assert overlapping.height > 0
    assert set(rejected["reason"]) <= {"constrain_prompts.overlaps_held_out",
                                       "constrain_prompts.duplicate"}
    assert {json.loads(m)["split"] for m in overlapping["meta"]} == {"train"}


def test_all_templates_are_checkable_and_can_be_followed():
    kept, _ = run(seed_frame(200), max_constraints=1)
    seen = {}
    for m in kept["meta"]:
        c = json.loads(m)["constraints"]
        seen[c["instruction_id_list"][0]] = c
    assert set(seen) == set(IFEVAL_CHECKS)
    # an answer written to follow the lowercase rule passes its check; an uppercase one fails
    spec = seen["change_case:english_lowercase"]
    assert score_completion("the sun rises in the east every morning.", None, spec).all_passed
    assert not score_completion("THE SUN RISES IN THE EAST.", None, spec).all_passed


def test_bad_params_are_errors():
    with pytest.raises(ValueError, match="unknown IFEval ids"):
        ConstrainParams(types=["punctuation:no_commas"])


@pytest.mark.usefixtures("shared_data")
def test_real_alpaca_seed_prompts(shared_data, tmp_path):
    from datatools.pipeline import run_build
    from datatools.recipe import load_recipe
    import yaml

    recipe = {"name": "constrained", "seed": 3,
              "sources": [{"path": str(shared_data / "llama-factory" / "alpaca_en_demo.json"),
                           "limit": 120}],
              "steps": [{"constrain_prompts": {"variants": 1, "held_out_fraction": 0.2,
                                               "keep_seed": False}}],
              "outputs": {"dir": str(tmp_path / "out")}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    result = run_build(load_recipe(tmp_path / "r.yaml"), quiet=True)
    frame = result.frame
    assert frame.height > 80
    assert frame["completion"].null_count() == frame.height
    reasons = set(result.ledger["reason"])
    assert "constrain_prompts.answer_replaced" in reasons  # alpaca outputs were seed answers
    splits = [json.loads(m)["split"] for m in frame["meta"]]
    assert 0.05 < splits.count("held_out") / len(splits) < 0.4
