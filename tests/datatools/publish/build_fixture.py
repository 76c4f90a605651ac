"""A real OUT folder for the publish tests, written by the pipeline's own writer.

Judged candidates (rubric aspects, a reward model column, near-duplicate clusters) are made
up here instead of run through models, so the tests stay fast and the numbers are known.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl

from datatools.builders.pairwise import build_pairwise
from datatools.builders.sft import build_sft
from datatools.builders.unary import build_unary
from datatools.frame import frame_from_rows, rows_from_record
from datatools.outputs import Ledger
from datatools.pipeline import _by_reason, write_outputs
from datatools.recipe import load_recipe_dict

ASPECTS = ("helpfulness", "honesty")
RECIPE = {
    "name": "fixture-prefs",
    "sources": [{"path": "data/prefs.jsonl"},
                {"hub": "acme/feedback", "revision": "a1b2c3d", "config": "en"}],
    "steps": [
        {"validate": {}},
        {"near_dedup": {"fields": ["prompt"]}},
        {"generate": {"policies": [{"backend": "vllm", "model": "Qwen/Qwen3-0.6B", "n": 2}]}},
        {"judge_rubric": {"backend": {"backend": "openai", "model": "judge-large",
                                      "base_url": "http://127.0.0.1:9/v1"},
                          "aspects": {a: a for a in ASPECTS}}},
        {"reward_model": {"model": "acme/rm-small", "revision": "v2", "set_score": False}},
    ],
    "outputs": {"dir": "out", "pairwise": {}, "unary": {}, "sft": {},
                "push": {"repo_id": "acme/prefs", "license": "cc-by-4.0"}},
}


def judged_frame(n_records: int = 40, seed: int = 0) -> pl.DataFrame:
    """Three candidates per prompt; longer answers score a little higher (a length bias)."""
    rng = random.Random(seed)
    rows = []
    for r in range(n_records):
        completions = []
        for c in range(3):
            words = rng.randint(3, 60)
            aspects = {a: float(min(5, max(1, round(1 + words / 15 + rng.gauss(0, 1)))))
                       for a in ASPECTS}
            completions.append(dict(content=" ".join(["word"] * words),
                                    score=sum(aspects.values()) / len(aspects),
                                    model="Qwen/Qwen3-0.6B" if c else "dataset",
                                    aspects=aspects, rm=rng.gauss(words / 20, 1)))
        prompt = [{"role": "user", "content": f"Question number {r}?"}]
        for row, comp in zip(rows_from_record(f"r{r}", f"data/prefs.jsonl:{r + 1}", prompt,
                                              completions), completions):
            row.update({f"aspect_{a}": v for a, v in comp["aspects"].items()},
                       judge_reward_model=comp["rm"])
            rows.append(row)
    base = frame_from_rows([{k: v for k, v in row.items() if not k.startswith(("aspect_",
                                                                           "judge_"))}
                            for row in rows])
    extra = pl.DataFrame([{k: v for k, v in row.items() if k.startswith(("aspect_", "judge_"))}
                          for row in rows])
    frame = pl.concat([base, extra], how="horizontal")
    return frame.with_columns(pl.col("score").alias("judge_rubric"),
                              pl.col("id").alias("near_dedup_cluster"))


def near_dup_rejects(frame: pl.DataFrame) -> pl.DataFrame:
    """Clusters of sizes 2, 3 and 4 around records r0, r1, r2 (record-level duplicates)."""
    rows = []
    for rep, extra in (("r0", 1), ("r1", 2), ("r2", 3)):
        for k in range(extra):
            dup_id = f"{rep}dup{k}"
            for c in range(3):
                rows.append(dict(id=dup_id, candidate_id=f"{dup_id}-{c}", source="x",
                                 near_dedup_cluster=rep, reason="near_dedup.cluster",
                                 detail=f"near-duplicate of record {rep} by prompt (cluster "
                                 f"{rep}, estimated Jaccard 0.9 ≥ 0.8)"))
    return pl.DataFrame(rows)


def make_out(out_dir: Path, n_records: int = 40) -> dict:
    """Write OUT like `datatools build` does; returns the report."""
    loaded = load_recipe_dict(RECIPE, path=Path(out_dir).parent / "recipe.yaml")
    frame = judged_frame(n_records)
    near = near_dup_rejects(frame)
    read_bad = pl.DataFrame([dict(step="read", reason="read.malformed_json", detail="line 3",
                                  source="data/prefs.jsonl:3", id=None, candidate_id=None,
                                  record='{"prompt": oops')])
    pairs, skip_p = build_pairwise(frame)
    unary, skip_u, unary_meta = build_unary(frame, pairs=None)
    sft, skip_s = build_sft(frame)
    datasets = {"pairwise": pairs, "unary": unary, "sft": sft}
    metadata = {k: {"kind": k, "rows": d.height, "recipe": RECIPE["name"], "params": {}}
                for k, d in datasets.items()}
    metadata["unary"].update(unary_meta)
    ledger = Ledger()
    ledger.add_rows(read_bad)
    ledger.add_rejected("near_dedup", near)
    for skipped in (skip_p, skip_u, skip_s):
        ledger.add_rows(skipped)
    n_rows = frame.height + near.height
    steps = [
        dict(name="validate", location="steps[0].validate", rows_in=n_rows, kept=n_rows,
             rejected=0, by_reason={}, seconds=0.01, cached=False),
        dict(name="near_dedup", location="steps[1].near_dedup", rows_in=n_rows,
             kept=frame.height, rejected=near.height, by_reason=_by_reason(near), seconds=0.2,
             cached=False),
        dict(name="generate", location="steps[2].generate", rows_in=frame.height,
             kept=frame.height, rejected=0, by_reason={}, seconds=3.0, cached=True),
        dict(name="judge_rubric", location="steps[3].judge_rubric", rows_in=frame.height,
             kept=frame.height, rejected=0, by_reason={}, seconds=5.0, cached=False),
        dict(name="reward_model", location="steps[4].reward_model", rows_in=frame.height,
             kept=frame.height, rejected=0, by_reason={}, seconds=1.0, cached=False),
    ]
    report = {
        "name": RECIPE["name"], "version": "0.1.0", "recipe": str(loaded.path),
        "out_dir": str(out_dir), "recipe_dump": loaded.recipe.model_dump(mode="json"),
        "sources": [
            dict(source="data/prefs.jsonl", format="trl", kind="pairwise", records=50,
                 rows=n_rows - 30, rejected=1, by_reason={"read.malformed_json": 1},
                 seconds=0.1),
            dict(source="hub:acme/feedback", format="ultrafeedback", kind="candidates",
                 records=10, rows=30, rejected=0, by_reason={}, seconds=0.4)],
        "rows_read": n_rows, "steps": steps, "final_rows": frame.height,
        "final_records": frame["id"].n_unique(), "outputs": metadata,
        "ledger": {"total": ledger.height, "by_step": ledger.counts("step"),
                   "by_reason": ledger.counts("reason")},
        "seconds": 9.9,
    }
    write_outputs(Path(out_dir), frame, ledger, datasets, metadata, json.loads(json.dumps(
        report, default=str)))
    return report
