"""Planted-preference datasets in the builder's output layout (OUT/pairwise, OUT/unary, OUT/sft).

The rule a tiny model can learn: a good answer ends with the word "good", a bad one with "bad".
Bodies are random words, different between chosen and rejected, so only the rule separates them.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

WORDS = ("the answer is one two three four five six seven eight nine ten plus minus equals sum "
         "cat dog python code math final result because so and or not it this that with").split()


def _text(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def planted_pairs(n: int, seed: int = 0, shared_body: bool = False,
                  markers: tuple[str, str] = ("good", "bad")) -> list[dict]:
    """`shared_body`: chosen and rejected are the same words and differ only in the final marker,
    so a base model's preference is its prior for one marker over the other (tests orient the
    markers against that prior, see test_learns.py)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        prompt = [{"role": "user", "content": f"please write {_text(rng, 3)}"}]
        body = _text(rng, rng.randint(2, 5))
        other = body if shared_body else _text(rng, rng.randint(2, 5))
        rows.append({
            "id": f"p{seed}-{i}", "source": f"planted:{i}", "meta": "{}",
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": f"{body} {markers[0]}"}],
            "rejected": [{"role": "assistant", "content": f"{other} {markers[1]}"}],
            "score_chosen": 1.0, "score_rejected": 0.0,
        })
    return rows


def unary_from_pairs(pairs: list[dict]) -> list[dict]:
    """Labels interleaved (desirable, undesirable, ...), as the builder writes them."""
    rows = []
    for p in pairs:
        for side, label in (("chosen", True), ("rejected", False)):
            rows.append({"id": p["id"], "source": p["source"], "meta": "{}", "prompt": p["prompt"],
                         "completion": p[side], "label": label})
    return rows


def write_out(out: Path, pairs: list[dict]) -> Path:
    """OUT/{pairwise,unary,sft} parquet + metadata.json, like `datatools build`."""
    import polars as pl

    unary = unary_from_pairs(pairs)
    sft = [{"id": p["id"], "source": p["source"], "meta": "{}",
            "messages": p["prompt"] + p["chosen"]} for p in pairs]
    for kind, rows in (("pairwise", pairs), ("unary", unary), ("sft", sft)):
        (out / kind).mkdir(parents=True, exist_ok=True)
        pl.DataFrame(rows).write_parquet(out / kind / "data.parquet")
    n = len(pairs)
    (out / "unary" / "metadata.json").write_text(json.dumps(
        {"desirable_weight": 1.0, "undesirable_weight": 1.0, "n_desirable": n, "n_undesirable": n}))
    return out


@pytest.fixture(scope="session")
def planted_out(tmp_path_factory) -> Path:
    return write_out(tmp_path_factory.mktemp("planted-out"), planted_pairs(240, seed=1))
