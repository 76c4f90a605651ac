"""validate and exact_dedup: kept rows and reason codes."""
import polars as pl

from datatools.core_steps import ExactDedup, ExactDedupParams, Validate, ValidateParams
from datatools.frame import frame_from_rows, rows_from_record

USER = [{"role": "user", "content": "What is 2+2?"}]


def frame(*records):
    rows = []
    for i, (prompt, comps) in enumerate(records):
        rows += rows_from_record(f"r{i}", f"t.jsonl:{i + 1}", prompt, comps)
    return frame_from_rows(rows)


def reasons(rejected):
    return dict(zip(rejected["candidate_id"], rejected["reason"]))


def test_validate_reason_codes():
    f = frame(
        (USER, [{"content": "4", "score": 1.0}, {"content": "5", "score": 0.0}]),   # fine
        ([{"role": "user", "content": "  "}], [{"content": "x"}]),                  # empty prompt
        ([{"role": "robot", "content": "hi"}], [{"content": "x"}]),                 # bad role
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], [{"content": "x"}]),
        (USER, [{"content": " "}]),                                                 # empty completion
        (USER, [{"content": "4", "score": 1.0}, {"content": "4", "score": 0.0}]),   # chosen == rejected
        (USER, [{"content": "4", "score": float("nan")}]),
    )
    kept, rejected = Validate()(f)
    assert set(kept["id"]) == {"r0"}
    assert reasons(rejected) == {
        "r1-0": "validate.empty_prompt", "r2-0": "validate.bad_role",
        "r3-0": "validate.prompt_not_ending_with_user", "r4-0": "validate.empty_completion",
        "r5-0": "validate.chosen_equals_rejected", "r5-1": "validate.chosen_equals_rejected",
        "r6-0": "validate.score_not_finite",
    }
    assert rejected.filter(pl.col("id") == "r2")["detail"][0] == "roles: robot"
    assert kept.height + rejected.height == f.height


def test_validate_prompt_only_rows_allowed_unless_required():
    f = frame((USER, []))
    assert Validate()(f)[0].height == 1
    kept, rejected = Validate(ValidateParams(require_completion=True))(f)
    assert kept.height == 0 and rejected["reason"].to_list() == ["validate.missing_completion"]


def test_exact_dedup_on_prompt_drops_whole_later_records_and_names_the_first():
    f = frame(
        (USER, [{"content": "4"}, {"content": "5"}]),
        ([{"role": "user", "content": "what is  2+2? "}], [{"content": "four"}]),  # same once normalised
        ([{"role": "user", "content": "Something else"}], [{"content": "x"}]),
    )
    kept, rejected = ExactDedup()(f)
    assert sorted(kept["id"].unique()) == ["r0", "r2"]
    assert rejected["reason"].to_list() == ["exact_dedup.duplicate"]
    assert rejected["detail"][0] == "same prompt as record r0"


def test_exact_dedup_without_normalisation_keeps_case_variants():
    f = frame((USER, [{"content": "4"}]), ([{"role": "user", "content": "WHAT IS 2+2?"}], [{"content": "4"}]))
    assert ExactDedup(ExactDedupParams(normalize=False))(f)[0].height == 2


def test_exact_dedup_on_prompt_and_completion_drops_duplicate_rows():
    f = frame((USER, [{"content": "4"}, {"content": "4"}, {"content": "5"}]))
    kept, rejected = ExactDedup(ExactDedupParams(fields=["prompt", "completion"]))(f)
    assert kept["candidate_id"].to_list() == ["r0-0", "r0-2"]
    assert rejected["detail"].to_list() == ["same prompt/completion as r0-0"]


def test_exact_duplicate_records_get_distinct_ids_and_the_copy_is_dropped():
    from datatools.frame import unique_record_ids

    rows = rows_from_record(None, "t.jsonl:1", USER, [{"content": "4"}, {"content": "5"}])
    rows += rows_from_record(None, "t.jsonl:2", USER, [{"content": "4"}, {"content": "5"}])
    f = unique_record_ids(frame_from_rows(rows))
    first, second = f["id"].unique(maintain_order=True).to_list()
    assert second == first + "~1"
    assert f["candidate_id"].to_list()[2:] == [second + "-0", second + "-1"]
    kept, rejected = ExactDedup()(f)
    assert set(kept["id"]) == {first} and set(rejected["id"]) == {second}


def test_ids_renamed_across_sources_never_take_another_records_id():
    """A first source's own "x~1" and "x~2" beside a second and third source's "x": the
    copies get "x~3" and "x~4", not ids another record has (which would merge records)."""
    from datatools.frame import unique_record_ids

    rows = []
    for record_id, where in [("x", "a:1"), ("x~1", "a:2"), ("x~2", "a:3"), ("x", "b:1"),
                             ("x", "c:1"), ("y", "c:2"), ("y", "d:1")]:
        rows += rows_from_record(record_id, where, USER, [{"content": "4"}])
    f = unique_record_ids(frame_from_rows(rows))
    assert f["id"].to_list() == ["x", "x~1", "x~2", "x~3", "x~4", "y", "y~1"]
    assert f["candidate_id"].to_list()[3] == "x~3-0"


def test_collapse_whitespace_equals_replacing_every_run():
    import random

    import polars as pl

    from datatools.core_steps import collapse_whitespace

    pieces = [" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x85", "\u00a0", "\u2028",
              "\u3000", "\u200b", "a", "B", "é", "中", "x y", ""]
    rng = random.Random(0)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
             for _ in range(20_000)] + [None]
    frame = pl.DataFrame({"t": texts})
    fast = frame.select(collapse_whitespace(pl.col("t")))["t"]
    every_run = frame.select(pl.col("t").str.replace_all(r"\s+", " "))["t"]
    assert fast.equals(every_run)
    assert fast.str.contains(r"\s\s|[^\S ]").sum() == 0
