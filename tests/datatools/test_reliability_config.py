"""Hostile or broken recipes stop at load time with one line per problem, before any work."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from datatools.pipeline import run_build
from datatools.recipe import load_recipe, load_recipe_dict
from datatools.schemas.errors import ConfigError, QualityGateError

BASE = "name: x\nsources: [{path: a.jsonl}]\noutputs: {dir: out, sft: {}}\n"


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "r.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines)


def test_billion_laughs_in_a_free_form_field_is_refused_at_load_time(tmp_path):
    text = ("bombs:\n  " + laughs(9).replace("\n", "\n  ") + "\n" + BASE +
            "steps:\n  - generate:\n      policies:\n        - {backend: openai, model: m, "
            "base_url: 'http://127.0.0.1:1/v1', extra_body: {x: *a8}}\n")
    with pytest.raises(ConfigError, match=r"r.yaml:\d+: anchors/aliases here expand to more "
                                          r"than 100,000 values"):
        load_recipe(write(tmp_path, text))  # before: memory blew up dumping params (9^9 values)


def test_small_anchors_still_work(tmp_path):
    # anchors are fine wherever a recipe repeats itself (here: one policy used twice)
    text = BASE + ("steps:\n  - generate:\n      policies:\n"
                   "        - &p {backend: openai, model: m, base_url: 'http://127.0.0.1:1/v1'}\n"
                   "        - {<<: *p, name: second}\n")
    loaded = load_recipe(write(tmp_path, text))
    assert [p.label for p in loaded.steps[0].params.policies] == ["m", "second"]


def test_a_recursive_alias_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="r.yaml:4: an alias refers to itself"):
        load_recipe(write(tmp_path, BASE + "loop: &l [1, *l]\n"))


def test_a_non_utf8_recipe_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"r.yaml:2: not valid UTF-8 \(byte 0xe9 at column "
                                          r"21\)"):
        load_recipe(write(tmp_path, b"name: x\nsources: [{path: caf\xe9.jsonl}]\n"))


@pytest.mark.parametrize("value, message", [
    (1.5, "gates.max_drop_rate: Input should be less than or equal to 1"),
    (-0.1, "gates.max_drop_rate: Input should be greater than or equal to 0"),
    (".nan", "gates.max_drop_rate: Input should be a finite number"),
    ("{dedup: .nan}", "gates.max_drop_rate.dedup: Input should be a finite number"),
    ("{dedup: 2}", "gates.max_drop_rate.dedup: Input should be less than or equal to 1"),
])
def test_gate_values_are_validated(tmp_path, value, message):
    with pytest.raises(ConfigError) as err:
        load_recipe(write(tmp_path, BASE + f"gates: {{max_drop_rate: {value}}}\n"))
    assert [str(p) for p in err.value.problems] == [message]  # one line, not one per type


def test_generate_failure_rate_is_validated():
    with pytest.raises(ConfigError, match=r"steps\[0\]\.generate\.max_failure_rate"):
        load_recipe_dict(yaml.safe_load(BASE + "steps:\n  - generate:\n      policies: [{model: m}]\n"
                                        "      max_failure_rate: .nan\n"))


def test_a_unary_threshold_that_empties_a_class_fails_the_build(tmp_path):
    rows = [{"prompt": f"q{i}", "completions": [{"content": f"a{i}", "score": 0.2},
                                                {"content": f"b{i}", "score": 0.4}]}
            for i in range(4)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"name": "u", "sources": [{"path": str(tmp_path / "c.jsonl")}],
            "outputs": {"dir": str(tmp_path / "out"), "unary": {"threshold": 0.9}}}
    with pytest.raises(QualityGateError, match=r"outputs.unary.threshold: threshold 0.9 leaves "
                                               r"no desirable example \(0 desirable, 8"):
        run_build(load_recipe_dict(spec), quiet=True)
    spec["outputs"]["unary"]["threshold"] = 0.3
    meta = run_build(load_recipe_dict(spec), quiet=True).report["outputs"]["unary"]
    assert meta["n_desirable"] == 4 and meta["n_undesirable"] == 4
