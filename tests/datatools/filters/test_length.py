"""length: char/word/token bounds per field (a real tokenizer built offline) and the
chosen/rejected length ratio."""
import pytest
import polars as pl

from datatools.filters.length import Length, LengthParams
from datatools.frame import frame_from_rows, rows_from_record
from datatools.step import StepContext


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    """A WordLevel tokenizer (one token per whitespace word) saved as a HF tokenizer folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["the cat sat on the mat", "a b c d e f g"],
                            trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]"]))
    d = tmp_path_factory.mktemp("tok")
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]").save_pretrained(d)
    return d


def rec(rid, prompt, *answers):
    return rows_from_record(rid, "t", [{"role": "user", "content": prompt}],
                            [{"content": a, "score": float(-i)} for i, a in enumerate(answers)])


def test_token_bounds_with_real_tokenizer(tokenizer_dir):
    rows = rec("short", "the cat", "a b c", "a b") + rec("long", "the cat sat on the mat !", "a b c", "a")
    params = LengthParams(tokenizer=str(tokenizer_dir), prompt={"max_tokens": 6},
                          completion={"min_tokens": 2})
    kept, rej = Length(params, StepContext(quiet=True))(frame_from_rows(rows))
    # Whitespace pre-tokenizer splits '!' off: 7 tokens > 6 → whole record
    assert rej.filter(pl.col("id") == "long")["reason"].to_list() == ["length.prompt_tokens"] * 2
    assert "prompt tokens=7 > max 6" in rej["detail"][0]
    assert kept["completion"].to_list() == ["a b c", "a b"]


def test_char_and_word_bounds_are_row_level_for_completions():
    rows = rec("r", "hello", "one two three four", "x")
    kept, rej = Length(LengthParams(completion={"min_words": 2, "max_chars": 100}))(frame_from_rows(rows))
    assert rej["reason"].to_list() == ["length.completion_words"]
    assert rej["candidate_id"].to_list() == ["r-1"]
    assert kept.height == 1


def test_ratio_bounds_drop_the_record():
    rows = rec("biased", "q", "word " * 40, "word " * 5) + rec("fair", "q2", "word " * 10, "word " * 8)
    kept, rej = Length(LengthParams(max_ratio=3.0, ratio_unit="words"))(frame_from_rows(rows))
    assert set(rej["id"]) == {"biased"} and rej.height == 2
    assert set(rej["reason"]) == {"length.ratio"}
    assert "ratio 8.0" in rej["detail"][0]
    assert set(kept["id"]) == {"fair"}


def test_token_bounds_need_a_tokenizer():
    with pytest.raises(ValueError, match="tokenizer"):
        LengthParams(prompt={"max_tokens": 5})


# Characters that decide word counts: ASCII and Unicode whitespace, characters that look
# like spaces but are not `\s` (zero-width space, BOM, Python-only separators \x1c-\x1f),
# ASCII and non-ASCII letters.
ALPHABET = [" ", " ", " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2002",
            "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u200b", "\ufeff",
            "\x1c", "\x1f", "a", "b", "Z", "0", ".", "é", "中", "😀"]


@pytest.fixture(params=["kernel", "polars"])
def word_counts(request):
    """Both implementations: the compiled kernel (where built) and the polars fallback."""
    from datatools.filters import length
    from datatools.native import library

    if request.param == "kernel" and library() is None:
        pytest.skip("the kernels are not built (no C compiler at install)")
    return length.word_counts if request.param == "kernel" else length.polars_word_counts


def test_word_counts_equal_the_regex_on_adversarial_text(word_counts):
    import random

    rng = random.Random(0)
    texts = [None, "", " ", "  ", "\n", "a", " a", "a ", "a  b", "a\tb", "a\u00a0b", "a\u3000b",
             "a\u2028b", "sys prompt\nuser turn", "\u00e9t\u00e9 \u00e0 Paris", "a b c"]
    for _ in range(20_000):
        n = rng.choice([1, 2, 3, 5, 8, 20])
        if rng.random() < 0.5:  # mostly plain: words joined by single spaces
            texts.append(" ".join("".join(rng.choices("abé中", k=rng.randint(1, 4)))
                                  for _ in range(n)))
        texts.append("".join(rng.choices(ALPHABET, k=n)))
    series = pl.Series("t", texts, pl.String)
    got = word_counts(series)
    want = series.str.count_matches(r"\S+")
    assert got.dtype == want.dtype and got.name == "t"
    assert got.to_list() == want.to_list()


def test_word_counts_know_every_code_point_as_the_regex_does(word_counts):
    """Each code point alone, between two words, and as a run crossing the kernel's 64-byte
    blocks (a multi-byte space split over two blocks): the regex's count every time."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    spaces = [c for c in chars if c.isspace()] + ["\u200b", "\ufeff", "é", "中"]
    texts = chars + [f"a{c}b" for c in chars]
    for c in spaces:
        for lead in range(58, 66):  # the character at byte 58-65: across the block edge
            texts += ["x" * lead + c + "y", "x" * lead + c * 3, " " * lead + c + "z" * 70]
    series = pl.Series("t", texts)
    assert word_counts(series).to_list() == series.str.count_matches(r"\S+").to_list()


def test_word_counts_of_a_sliced_and_chunked_series(word_counts):
    """What `map_batches` may hand over: a slice (an offset into its arrays) and several
    chunks, long and short (inline) texts, nulls."""
    parts = [pl.Series("t", [f"w{i} " * (i % 7) + "x" * (i % 30) for i in range(200)] + [None])
             for _ in range(3)]
    chunked = pl.concat(parts, rechunk=False)
    assert chunked.n_chunks() == 3
    for series in (chunked, chunked.slice(37, 400), parts[0].slice(5, 100)):
        assert word_counts(series).to_list() == series.str.count_matches(r"\S+").to_list()


def test_ascii_whitespace_of_the_regex_is_tab_to_cr_and_space():
    """word_counts tests ASCII text for [\\t-\\r] and ' ' only; the regex's \\s must agree."""
    ascii_chars = pl.Series([chr(c) for c in range(128)])
    spaces = ascii_chars.filter(ascii_chars.str.contains(r"^\s$")).to_list()
    assert spaces == ["\t", "\n", "\x0b", "\x0c", "\r", " "]


def test_word_bounds_count_a_prompt_joined_from_several_turns():
    rows = rows_from_record("r", "t", [{"role": "system", "content": "be  brief"},
                                       {"role": "user", "content": "one\ttwo three"}],
                            [{"content": "x\u00a0y z", "score": 1.0}, {"content": "", "score": 0.0}])
    rows += rec("ok", "a b", "one", "two")
    kept, rej = Length(LengthParams(prompt={"max_words": 4}, completion={"min_words": 1}))(
        frame_from_rows(rows))
    assert rej.filter(pl.col("id") == "r")["reason"].to_list() == ["length.prompt_words"] * 2
    assert "prompt words=5 > max 4" in rej["detail"][0]
    assert kept["id"].to_list() == ["ok", "ok"]
