"""Mixing sources by ratio in the final datasets: shares, counts, tags, repeats, the ledger."""
import json

import polars as pl
import pytest

from datatools.pipeline import run_build
from datatools.recipe import load_recipe_dict
from datatools.schemas.errors import ConfigError


def write_prefs(path, n, topic, empty_every=0):
    """TRL preference rows; every `empty_every`-th chosen answer is blank (validate drops it)."""
    lines = []
    for i in range(n):
        chosen = "" if empty_every and i % empty_every == 0 else f"A worked {topic} answer #{i}."
        lines.append(json.dumps({"prompt": [{"role": "user", "content": f"{topic} question {i}?"}],
                                 "chosen": [{"role": "assistant", "content": chosen}],
                                 "rejected": [{"role": "assistant", "content": f"no idea {i}"}]}))
    path.write_text("\n".join(lines) + "\n")


def build(tmp_path, sources, mix=None, outputs=None, seed=0):
    spec = {"name": "mix", "seed": seed, "sources": sources, "steps": [{"validate": {}}],
            "outputs": {"dir": "out", **(outputs or {"pairwise": {}, "sft": {}})}}
    if mix is not None:
        spec["mix"] = mix
    return run_build(load_recipe_dict(spec, path=tmp_path / "recipe.yaml"), quiet=True,
                     use_cache=False)


def by_source(frame):
    return dict(frame.select(pl.col("source").str.extract(r"^([^:]+):")).to_series()
                .value_counts().iter_rows())


@pytest.fixture
def two_sources(tmp_path):
    write_prefs(tmp_path / "math.jsonl", 48, "math", empty_every=8)   # 6 dropped by validate
    write_prefs(tmp_path / "chat.jsonl", 10, "chat")
    return tmp_path


def test_weights_downsample_after_cleaning_so_the_written_ratio_holds(two_sources):
    tmp = two_sources
    result = build(tmp, [{"path": "math.jsonl", "weight": 3}, {"path": "chat.jsonl", "weight": 1}])
    # after validate: math 42 pairs, chat 10; 3:1 → total min(42/0.75, 10/0.25) = 40 → 30 + 10
    written = pl.read_parquet(tmp / "out" / "pairwise" / "train.parquet")
    assert by_source(written) == {"math.jsonl": 30, "chat.jsonl": 10}
    ledger = result.ledger.filter((pl.col("reason") == "mix.downsampled")
                                  & pl.col("detail").str.starts_with("pairwise:"))
    assert ledger.height == 12 and set(ledger["source"].str.extract(r"^([^:]+):")) == {
        "math.jsonl"}
    assert ledger["detail"][0] == ("pairwise: source math.jsonl keeps 30 of its 42 rows "
                                   "(share 0.75 of 40 requested)")
    assert json.loads(ledger["record"][0])["chosen"][0]["content"].startswith("A worked math")
    groups = result.report["mix"]["pairwise"]["groups"]
    assert groups["math.jsonl"] == {"available": 42, "requested": 30, "achieved": 30,
                                    "downsampled": 12, "repeated": 0,
                                    "requested_share": 0.75, "achieved_share": 0.75}
    assert result.report["outputs"]["pairwise"]["rows"] == 40


def test_counts_with_upsampling_mark_repeats_and_keep_ids(two_sources):
    tmp = two_sources
    result = build(tmp, [{"path": "math.jsonl"}, {"path": "chat.jsonl"}],
                   mix={"counts": {"chat.jsonl": 25}, "upsample": True, "kinds": ["pairwise"]})
    pairs = result.datasets["pairwise"]
    assert by_source(pairs) == {"math.jsonl": 42, "chat.jsonl": 25}  # math: not named, all kept
    chat = pairs.filter(pl.col("source").str.starts_with("chat.jsonl:"))
    repeats = [json.loads(m).get("mix_repeat") for m in chat["meta"]]
    assert repeats.count(None) == 10 and repeats.count(1) == 10 and repeats.count(2) == 5
    assert chat["id"].n_unique() == 10  # a repeat keeps its record id (held-out split by id)
    assert result.report["mix"]["pairwise"]["groups"]["chat.jsonl"]["repeated"] == 15
    assert "sft" not in result.report["mix"]  # kinds: [pairwise]
    assert not any("mix_repeat" in m for m in result.datasets["sft"]["meta"])
    assert result.ledger.filter(pl.col("step") == "mix").height == 0


def test_a_target_above_what_exists_without_upsample_is_reported_not_invented(two_sources):
    result = build(two_sources, [{"path": "math.jsonl"}, {"path": "chat.jsonl"}],
                   mix={"shares": {"math.jsonl": 1, "chat.jsonl": 1}, "total": 40})
    groups = result.report["mix"]["pairwise"]["groups"]
    assert groups["chat.jsonl"]["requested"] == 20 and groups["chat.jsonl"]["achieved"] == 10
    assert groups["math.jsonl"]["achieved"] == 20
    assert groups["chat.jsonl"]["achieved_share"] == pytest.approx(1 / 3, abs=1e-4)
    card = (two_sources / "out" / "README.md").read_text()
    assert "## Mixture" in card
    assert "| pairwise | `chat.jsonl` | 10 | 20 | 10 | 0.5 | 0.3333 | 0 | 0 |" in card
    from rich.console import Console

    from datatools.summary import print_summary

    console = Console(record=True, width=250)
    print_summary(result.report, console)
    assert "mixed, achieved (requested): math.jsonl 20 (20), chat.jsonl 10 (20)" in \
        console.export_text()
    html = (two_sources / "out" / "report.html").read_text()
    assert 'id="mix"' in html and "chat.jsonl" in html


def test_mix_by_tag_and_the_seed(tmp_path):
    for name, n in (("gsm.jsonl", 20), ("math.jsonl", 20), ("chat.jsonl", 20)):
        write_prefs(tmp_path / name, n, name.split(".")[0])
    sources = [{"path": "gsm.jsonl", "tag": "reasoning"}, {"path": "math.jsonl", "tag": "reasoning"},
               {"path": "chat.jsonl", "tag": "chat"}]
    mix = {"by": "tag", "shares": {"reasoning": 0.8, "chat": 0.2}}
    first = build(tmp_path, sources, mix=mix, outputs={"pairwise": {}, "sft": {}})
    # 40 reasoning, 20 chat → total min(40/0.8, 20/0.2) = 50 → 40 + 10
    groups = first.report["mix"]["pairwise"]["groups"]
    assert {k: g["achieved"] for k, g in groups.items()} == {"reasoning": 40, "chat": 10}
    # where both datasets hold the same records, the SFT and DPO mixtures keep the same ones
    assert set(first.datasets["sft"]["id"]) == set(first.datasets["pairwise"]["id"])
    again = build(tmp_path, sources, mix=mix, outputs={"pairwise": {}})
    other = build(tmp_path, sources, mix=mix, outputs={"pairwise": {}}, seed=1)
    assert again.datasets["pairwise"]["id"].to_list() == first.datasets["pairwise"]["id"].to_list()
    assert other.datasets["pairwise"]["id"].to_list() != first.datasets["pairwise"]["id"].to_list()


def test_mix_configuration_errors_come_before_any_work(tmp_path):
    def problems(sources, mix=None):
        spec = {"name": "x", "sources": sources, "outputs": {"dir": "o", "pairwise": {}}}
        if mix:
            spec["mix"] = mix
        with pytest.raises(ConfigError) as err:
            load_recipe_dict(spec)
        return str(err.value)

    assert "give every source a weight (missing: b.jsonl)" in problems(
        [{"path": "a.jsonl", "weight": 1}, {"path": "b.jsonl"}])
    assert "c.jsonl name no source; known: a.jsonl, b.jsonl" in problems(
        [{"path": "a.jsonl"}, {"path": "b.jsonl"}], {"shares": {"a.jsonl": 1, "c.jsonl": 1}})
    assert "give every source a share (missing: b.jsonl)" in problems(
        [{"path": "a.jsonl"}, {"path": "b.jsonl"}], {"shares": {"a.jsonl": 1}})
    assert "exactly one of `shares` or `counts`" in problems(
        [{"path": "a.jsonl"}], {"shares": {"a.jsonl": 1}, "counts": {"a.jsonl": 3}})
    assert "every source needs a tag (missing: b.jsonl)" in problems(
        [{"path": "a.jsonl", "tag": "x"}, {"path": "b.jsonl"}], {"by": "tag", "counts": {"x": 1}})
    assert "either sources[].weight or a mix section" in problems(
        [{"path": "a.jsonl", "weight": 1}], {"counts": {"a.jsonl": 1}})


def test_a_mixed_kto_dataset_gets_weights_for_its_new_counts(tmp_path):
    """ms-swift KTO rows from two sources; the mixture changes the label counts, and
    metadata.json's λ_D/λ_U follow what is written (KTO Eq. 8)."""
    rows = {"pos.jsonl": [True] * 30, "mixed.jsonl": [True, False] * 10}
    for name, labels in rows.items():
        (tmp_path / name).write_text("\n".join(json.dumps(
            {"query": f"{name} q{i}", "response": f"answer {i}", "label": lab})
            for i, lab in enumerate(labels)) + "\n")
    build(tmp_path, [{"path": "pos.jsonl", "weight": 1}, {"path": "mixed.jsonl", "weight": 1}],
          outputs={"unary": {}})
    unary = pl.read_parquet(tmp_path / "out" / "unary" / "train.parquet")
    meta = json.loads((tmp_path / "out" / "unary" / "metadata.json").read_text())
    assert unary.height == 40 and by_source(unary) == {"pos.jsonl": 20, "mixed.jsonl": 20}
    assert meta["n_desirable"] == unary["label"].sum() == 30 and meta["n_undesirable"] == 10
    assert meta["undesirable_weight"] == 3.0 and meta["desirable_weight"] == 1.0
    assert unary["label"].to_list()[:6] == [True, False] * 3  # interleaved again
