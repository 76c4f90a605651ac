"""`with_assistant_turn` gives exactly what polars' concat_list gives (the SFT messages)."""
import numpy as np
import polars as pl

from datatools.builders.ledger import assistant_turn, with_assistant_turn

MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})


def test_same_lists_as_concat_list_with_empty_null_and_long_prompts():
    rng = np.random.default_rng(4)
    prompts, completions = [], []
    for i in range(300):
        kind = rng.integers(0, 6)
        if kind == 0:
            prompts.append(None)  # no list at all
        elif kind == 1:
            prompts.append([])
        else:
            prompts.append([{"role": ["system", "user", "assistant"][k % 3],
                             "content": None if rng.random() < 0.1 else "word " * int(rng.integers(0, 50))}
                            for k in range(int(rng.integers(1, 7)))])
        completions.append(None if rng.random() < 0.1 else f"answer {i} ünï")
    frame = pl.DataFrame({"prompt": prompts, "completion": completions},
                         schema={"prompt": pl.List(MESSAGE), "completion": pl.String})
    expected = frame.select(pl.concat_list("prompt", assistant_turn("completion")))["prompt"]
    got = with_assistant_turn(frame["prompt"], frame["completion"])
    assert got.dtype == expected.dtype and got.name == "prompt"
    assert got.to_list() == expected.to_list()
    assert got[5:9].to_list() == with_assistant_turn(frame["prompt"][5:9],
                                                     frame["completion"][5:9]).to_list()
    empty = with_assistant_turn(frame["prompt"][:0], frame["completion"][:0])
    assert len(empty) == 0 and empty.dtype == pl.List(MESSAGE)
