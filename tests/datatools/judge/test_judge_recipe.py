"""The judge steps as a user writes them in a recipe: the README's YAML snippets validate, and a
verifiable build runs end to end offline (the quickstart's path)."""
import json

import polars as pl
import pytest
import yaml

from datatools.pipeline import run_build
from datatools.recipe import load_recipe_dict, validate_steps
from datatools.registry import STEPS
from datatools.schemas.errors import ConfigError

SNIPPETS = """
- verifiable:
    answer_key: answer            # meta["answer"]: 42, "42" or a GSM8K solution "... #### 42"
    constraints_key: constraints  # meta["constraints"]: {max_words: 50, no_commas: true, ...}
    constraints: {max_chars: 4000}  # checked on every row
    scoring: fraction             # or all (1 only if every check passes)
- judge_rubric:
    backend: {backend: vllm, model: Qwen/Qwen2.5-7B-Instruct}
    max_parse_failure_rate: 0.05
- judge_rubric:
    name: style
    backend: {backend: openai, model: gpt-4o-mini, base_url: "https://api.openai.com/v1"}
    aspects: {clarity: "easy to follow", concision: "no padding"}
    scale_min: 1
    scale_max: 10
    template: |
      Rate the answer to {instruction} on a {scale_min}-{scale_max} scale:
      {aspects}
      Answer: {completion}
      Reply with JSON like {json_example}
    set_score: false
- judge_pairwise:
    backend: {backend: vllm, model: Qwen/Qwen2.5-7B-Instruct}
    on_inconsistent: tie
    scoring: bradley_terry
- reward_model:
    model: Skywork/Skywork-Reward-Llama-3.1-8B-v0.2
    batch_size: 16
    max_length: 4096
- combine_scores:
    weights: {verifiable: 2, rubric: 1, reward_model: 1}
    normalize: minmax
"""


def test_readme_snippets_validate():
    specs, problems = validate_steps(yaml.safe_load(SNIPPETS), STEPS)
    assert problems == [] and len(specs) == 6


def test_typos_are_reported_with_locations():
    _, problems = validate_steps([{"verifiable": {"scorng": "all"}},
                                  {"judge_pairwise": {"backend": {"model": "x"}, "on_inconsistent": "x"}}],
                                 STEPS)
    text = "\n".join(map(str, problems))
    assert "steps[0].verifiable.scorng: unknown key" in text
    assert "steps[1].judge_pairwise.on_inconsistent" in text
    _, problems = validate_steps([{"judge_rubric": {"backend": {"modle": "x"}}}], STEPS)
    assert [str(p) for p in problems] == [
        "steps[0].judge_rubric.backend.model: required key is missing",
        "steps[0].judge_rubric.backend.modle: unknown key (check the spelling; `datatools "
        "schema` lists every key)"]


def test_combine_requires_judge_columns_before_running(tmp_path):
    with pytest.raises(ConfigError, match="judge_rubric"):
        load_recipe_dict({"name": "t", "sources": [{"path": "x.jsonl"}],
                          "steps": [{"verifiable": {}}, {"combine_scores": {
                              "weights": {"verifiable": 1, "rubric": 1}}}],
                          "outputs": {"dir": str(tmp_path)}})


RECORDS = [
    {"prompt": "What is 6 times 7?", "answer": "42",
     "completions": [{"response": "6*7 = 42\n#### 42"}, {"response": "It is 41."}]},
    {"prompt": "Describe a cat in at most 5 words without commas.",
     "constraints": {"max_words": 5, "no_commas": True},
     "completions": [{"response": "Small furry purring cat."},
                     {"response": "A cat, which is a small, furry and independent animal."}]},
    {"prompt": "Tell me a joke.", "completions": [{"response": "No."}, {"response": "Ha."}]},
]


def test_offline_verifiable_build(tmp_path):
    src = tmp_path / "q.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    loaded = load_recipe_dict({
        "name": "verifiable", "sources": [{"path": str(src)}],
        "steps": [{"validate": {}}, {"verifiable": {}}],
        "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}, "sft": {"min_score": 1.0}},
    })
    result = run_build(loaded, quiet=True)
    step = result.report["steps"][1]
    assert step["by_reason"] == {"judge.no_checks": 2}  # the joke has nothing to verify
    assert step["stats"]["pass_rate"]["answer"] == 0.5
    pairs = result.datasets["pairwise"]
    chosen = [c[-1]["content"] for c in pairs["chosen"].to_list()]
    assert sorted(chosen) == ["6*7 = 42\n#### 42", "Small furry purring cat."]
    assert result.datasets["sft"].height == 2
    ledger = pl.read_parquet(tmp_path / "out" / "rejects" / "rejects.parquet")
    assert set(ledger["reason"]) == {"judge.no_checks"}


def test_pairwise_judge_in_a_build_reports_position_consistency(tmp_path, scripted):
    import re

    def longer_wins(conv, sampling, n):
        a, b = re.findall(r"## Response [AB]\n(.*?)\n\n", conv[-1]["content"], re.S)
        return '{"explanation": "", "winner": "%s"}' % ("A" if len(a) > len(b) else "B")

    src = tmp_path / "q.jsonl"
    src.write_text(json.dumps({"prompt": "Say hi", "completions": [
        {"response": "hi"}, {"response": "hello there"}, {"response": "hey you"}]}) + "\n")
    loaded = load_recipe_dict({
        "name": "pw", "sources": [{"path": str(src)}],
        "steps": [{"judge_pairwise": {"backend": {"model": "test/judge"}}}],
        "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}},
    })
    backend = scripted(longer_wins)
    result = run_build(loaded, quiet=True, backends={"test/judge": backend})
    stats = result.report["steps"][0]["stats"]
    assert stats["position_consistency_rate"] == 1.0 and stats["pairs"] == 3
    pair = result.datasets["pairwise"].row(0, named=True)
    assert pair["chosen"][-1]["content"] == "hello there"
    assert pair["rejected"][-1]["content"] == "hi"
    # A rerun reuses the step's cached output: the judge is not asked again.
    calls = len(backend.calls)
    again = run_build(loaded, quiet=True, backends={"test/judge": backend})
    assert again.report["steps"][0]["cached"] and len(backend.calls) == calls


def test_a_judge_model_folder_that_does_not_exist_stops_the_build_before_work(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_recipe_dict({
            "name": "j", "sources": [{"path": str(tmp_path / "data.jsonl")}],
            "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}},
            "steps": [{"judge_rubric": {"backend": {"model": "./models/judge-7b"}}},
                      {"judge_pairwise": {"backend": {"backend": "transformers", "model": "m/x",
                                                      "adapter": "./no-adapter"}}}]},
            path=tmp_path / "recipe.yaml")
    lines = [f"{p.location}: {p.message}" for p in err.value.problems]
    assert any(line.startswith("steps[0].judge_rubric.backend.model: model './models/judge-7b' "
                               "not found") for line in lines), lines
    assert any(line.startswith("steps[1].judge_pairwise.backend.adapter: adapter "
                               "'./no-adapter' not found") for line in lines), lines
