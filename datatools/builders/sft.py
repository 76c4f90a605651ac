"""The SFT builder: each record's chosen answer (ranking.py), or the pairwise chosen ones.

Only an answer that was the record's best as ranked is taken: when a step dropped the best
answer, the runner-up is not promoted (on a preference pair it is the *rejected* answer);
the record is ledgered as `build.sft.best_dropped` instead.
"""
from __future__ import annotations

import polars as pl

from datatools.builders.ledger import (
    SFT_SCHEMA, answered, ledger_frame, no_completion, record_lists, rows_at, skip_row,
    with_assistant_turn,
)
from datatools.builders.ranking import record_ranking
from datatools.schemas.recipe import SFTParams

STEP = "build.sft"


def build_sft(frame: pl.DataFrame, params: SFTParams | None = None, seed: int = 0,
              pairs: pl.DataFrame | None = None, best_dropped: dict[str, str] | None = None):
    """(dataset, skipped). `best_dropped`: record id → why its best answer is gone."""
    from datatools.builders.pairwise import build_pairwise

    p = params or SFTParams()
    best_dropped = best_dropped or {}
    skipped = no_completion(frame, STEP)
    if p.source == "chosen":
        if pairs is None:
            pairs, _ = build_pairwise(frame, seed=seed)
        picks = pairs.select("id", "source", "prompt", pl.col("chosen").list.first()
                             .struct.field("content").alias("completion"),
                             pl.col("score_chosen").alias("score"),
                             pl.col("chosen_model").alias("model"), "meta")
    else:
        f = answered(frame)
        _, g = record_ranking(f)
        ranked = pl.col("__ns") > 0
        single = pl.col("__n") == 1  # plain SFT data: a single unscored answer is the answer
        unranked = g.filter(~ranked & ~single)
        if unranked.height:
            firsts = rows_at(f, unranked["__first"].to_numpy(), ["id", "source", "prompt"])
            lists = record_lists(f, firsts["id"])
            for (rid, source, prompt), n in zip(firsts.iter_rows(), unranked["__n"]):
                completions, _, _ = lists[rid]
                skipped.append(skip_row(STEP, "build.sft.unranked",
                                        f"{n} unscored candidates: no best answer", source, rid,
                                        {"prompt": prompt, "completions": completions}))
        g = g.filter(ranked | single)
        picks = rows_at(f, g["__ci"].to_numpy(),
                        ["id", "source", "prompt", "completion", "score", "label", "model", "meta"])
        picks = picks.with_columns(pl.coalesce("score", pl.col("label").cast(pl.Float64))
                                   .alias("score")).drop("label")
    dropped = pl.col("id").is_in(pl.Series(list(best_dropped), dtype=pl.String).implode())
    low = (pl.lit(p.min_score is not None)
           & (pl.col("score").is_null() | (pl.col("score") < (p.min_score or 0.0))))
    why = picks.select(pl.when(dropped).then(pl.lit("best_dropped"))
                       .when(low).then(pl.lit("low_score")).alias("why"))["why"]
    for row, w in zip(picks.filter(why.is_not_null()).iter_rows(named=True),
                      why.drop_nulls().to_list()):
        detail = (f"{best_dropped.get(row['id'])}; the runner-up is not taken as the best"
                  if w == "best_dropped" else f"best score {row['score']} < min_score {p.min_score}")
        skipped.append(skip_row(STEP, f"{STEP}.{w}", detail, row["source"], row["id"],
                                {"prompt": row["prompt"], "completion": row["completion"]}))
    picks = picks.filter(why.is_null())
    data = picks.select(
        "id", "source", with_assistant_turn(picks["prompt"], picks["completion"])
        .alias("messages"), "score", "model", "meta").cast(SFT_SCHEMA)
    if p.format == "prompt_completion":
        data = data.with_columns(
            pl.col("messages").list.slice(0, pl.col("messages").list.len() - 1).alias("prompt"),
            pl.col("messages").list.slice(-1, 1).alias("completion"),
        ).drop("messages")
    return data, ledger_frame(skipped)
