"""low_info: stock phrases (en + zh), distinct tokens, repetition; custom phrase lists."""

from datatools.filters.low_info import LowInfo, LowInfoParams
from datatools.frame import frame_from_rows, rows_from_record

GOOD = ["The capital of France is Paris, a city on the Seine.", "北京是中国的首都，有很多名胜古迹。",
        "Use a dictionary comprehension: {k: v for k, v in pairs}."]
EMPTY = ["是", "好的", "明白了", "OK", "Sure.", "OK.", " ok ! ", "好的。"]


def frame(texts):
    rows = []
    for i, t in enumerate(texts):
        rows += rows_from_record(f"r{i}", "t", [{"role": "user", "content": "q"}], [{"content": t}])
    return frame_from_rows(rows)


def test_stock_phrases_dropped_substance_kept():
    kept, rej = LowInfo(LowInfoParams())(frame(GOOD + EMPTY))
    assert kept["completion"].to_list() == GOOD
    assert rej["completion"].to_list() == EMPTY
    assert set(rej["reason"]) == {"low_info.completion"}
    assert "stock phrase" in rej["detail"][0]


def test_distinct_tokens_and_repetition():
    loop = "I am sorry but I cannot " * 8
    kept, rej = LowInfo(LowInfoParams(min_distinct_tokens=3))(frame(["yes yes", loop, GOOD[0]]))
    details = dict(zip(rej["completion"], rej["detail"]))
    assert "2 distinct" not in details["yes yes"] and "1 distinct tokens < 3" in details["yes yes"]
    assert "duplicate 3-gram fraction" in details[loop]
    assert kept["completion"].to_list() == [GOOD[0]]


def test_terse_factual_answers_are_not_low_information_by_default():
    kept, rej = LowInfo(LowInfoParams())(frame(["Canberra.", "366 days.", "...", "OK."]))
    assert kept["completion"].to_list() == ["Canberra.", "366 days."]
    assert dict(zip(rej["completion"], rej["detail"]))["..."] == "completion has 0 distinct tokens < 1"


def test_custom_phrases_and_languages():
    kept, rej = LowInfo(LowInfoParams(languages=["zh"], phrases={"fr": ["d'accord"]},
                                      min_distinct_tokens=0))(frame(["OK", "好的", "D'accord !"]))
    assert kept["completion"].to_list() == ["OK"]  # en list not selected
    assert rej["completion"].to_list() == ["好的", "D'accord !"]


def test_prompt_only_rows_untouched():
    rows = rows_from_record("p", "t", [{"role": "user", "content": "q"}], [])
    kept, rej = LowInfo(LowInfoParams())(frame_from_rows(rows))
    assert kept.height == 1 and rej.height == 0


def test_text_counts_match_counting_the_token_lists():
    """The hashed counts equal plain set counts on the token lists (boundaries between replies
    included: a 3-gram never spans two replies)."""
    import math
    import random

    import polars as pl

    from datatools.filters.low_info import TOKEN_RE, text_counts

    rng = random.Random(1)
    words = ["a", "b", "c", "好", "的", "x_y", "Été", "a"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 9))) for _ in range(400)]
    texts += ["", "OK.", "a b a b a b", "好的好的"]
    got = text_counts(pl.Series(texts), ["ok"])
    tokens = pl.Series(texts).str.to_lowercase().str.extract_all(TOKEN_RE).to_list()
    for row, toks in zip(got.iter_rows(named=True), tokens):
        tri = [tuple(toks[j:j + 3]) for j in range(len(toks) - 2)]
        assert row["n"] == len(toks) and row["d"] == len(set(toks))
        expected = 1 - len(set(tri)) / len(tri) if tri else math.nan
        assert (math.isnan(row["rep"]) and math.isnan(expected)) or row["rep"] == expected
    assert got["phrase"].to_list()[-3:] == [True, False, False]


def test_yes_no_answers_to_closed_questions_are_kept():
    """Classification prompts ("Answer Yes or No") have one-word right answers; dropping them
    broke pairs. Stock replies that add nothing still go, on any prompt."""
    cases = [
        ("Is the following review positive? 'Loved it.' Answer Yes or No.", "Yes", True),
        ("Does 17 divide 51? Reply with yes/no only.", "No.", True),
        ("Is Canberra the capital of Australia?", "Yes.", True),
        ("True or false: the Earth is flat.", "False", True),
        ("这句话的情感是正面的吗？", "是的", True),
        ("判断下面的说法是否正确：水在100度沸腾。", "正确", True),
        ("Write a poem about the sea.", "Yes.", False),          # not a closed question
        ("Is Canberra the capital of Australia?", "OK.", False),  # a stock reply is still one
        ("这句话的情感是正面的吗？", "好的", False),
    ]
    rows = []
    for i, (prompt, answer, _) in enumerate(cases):
        rows += rows_from_record(f"r{i}", "t", [{"role": "user", "content": prompt}],
                                 [{"content": answer}])
    kept, rej = LowInfo(LowInfoParams())(frame_from_rows(rows))
    assert sorted(kept["id"]) == sorted(f"r{i}" for i, c in enumerate(cases) if c[2])
    assert set(rej["detail"].str.contains("stock phrase")) == {True}
    kept, _ = LowInfo(LowInfoParams(closed_answers=False))(frame_from_rows(rows))
    assert kept.height == 0
