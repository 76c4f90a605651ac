"""Held-out evaluation: does the policy itself prefer the chosen answer, base vs trained?

Headline — policy preference: the share of held-out pairs with log π(chosen|x) > log π(rejected|x)
(summed over completion tokens), and its length-normalised form (mean per-token log-prob, as in
SimPO, Meng et al. 2024), for the base/reference policy and for the trained one. This is what a
user samples from, and it has a real base value.

Also reported: the implicit reward of DPO (Rafailov et al. 2023, Eq. 5), r(x, y) = β·log π(y|x) /
π_ref(y|x) — its accuracy r(chosen) > r(rejected) and mean margin for the trained policy. For the
untrained adapter π = π_ref and every margin is 0 by construction, so no base value is reported.
Every number comes with n and a 95% interval (train/stats.py).

Pairs that cannot be scored the way TRL trains (prompt over max_length, completion truncated
away, ...) are excluded by the same pre-flight as the training split and counted by reason,
never scored as ties. KTO data may have one answer per record (ms-swift query/response/label):
label accuracy of the implicit reward (its sign matches the label) over every row, and the pair
metrics over prompts that have both labels.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from datatools.train.scoring import completion_logps, reference
from datatools.train.stats import mean, proportion

FLAG_STEP, FLAG_REASON = "train.flag", "train.likely_mislabelled"


def scorable(rows, tokenizer, method: str, max_length) -> tuple[list[dict], dict[str, int]]:
    """(rows pre-flight accepts, {reason: count} of the rows it excludes)."""
    from datatools.train.preflight import row_problems

    kept, excluded = [], Counter()
    for row in rows:
        problems = row_problems(tokenizer, row, method, max_length)
        if problems:
            excluded[problems[0][0]] += 1
        else:
            kept.append(row)
    return kept, dict(excluded)


def _both(model, tokenizer, prompts, completions, max_length):
    """(logps, n_tokens, ref_logps) of completions under π and π_ref."""
    logps, counts = completion_logps(model, tokenizer, prompts, completions, max_length)
    with reference(model):
        ref, _ = completion_logps(model, tokenizer, prompts, completions, max_length)
    return logps, counts, ref


def pair_scores(model, tokenizer, pairs, beta: float, max_length=None):
    """One row per pair: log-probs and token counts under π and π_ref, and the implicit margin."""
    import polars as pl

    prompts = [p["prompt"] for p in pairs]
    cols = {"id": [str(p["id"]) for p in pairs], "source": [str(p.get("source")) for p in pairs]}
    for side in ("chosen", "rejected"):
        logps, counts, ref = _both(model, tokenizer, prompts, [p[side] for p in pairs], max_length)
        cols.update({f"logp_{side}": logps, f"n_{side}": counts, f"ref_logp_{side}": ref})
    df = pl.DataFrame(cols)
    lc, lr, rc, rr = (pl.col(c) for c in ("logp_chosen", "logp_rejected", "ref_logp_chosen",
                                          "ref_logp_rejected"))
    nc, nr = pl.col("n_chosen").clip(1), pl.col("n_rejected").clip(1)
    return df.with_columns(
        margin=beta * ((lc - rc) - (lr - rr)), logp_margin=lc - lr, ref_logp_margin=rc - rr,
        norm_margin=lc / nc - lr / nr, ref_norm_margin=rc / nc - rr / nr)


def unary_scores(model, tokenizer, rows, beta: float, max_length=None):
    """One row per labelled answer (`row`: its position in `rows`): log-probs under π and π_ref,
    the implicit reward r = β·log π(y|x)/π_ref(y|x) (KTO's r_θ, Ethayarajh et al. 2024, Eq. 6,
    scaled by β as in its value function), and `margin`, the reward in the label's direction
    (r for a desirable answer, −r for an undesirable one): negative when training moved the
    policy against the label."""
    import polars as pl

    logps, counts, ref = _both(model, tokenizer, [r["prompt"] for r in rows],
                               [r["completion"] for r in rows], max_length)
    df = pl.DataFrame({"row": list(range(len(rows))), "id": [str(r["id"]) for r in rows],
                       "source": [str(r.get("source")) for r in rows],
                       "label": [bool(r["label"]) for r in rows],
                       "logp": logps, "ref_logp": ref, "n_tokens": counts})
    reward = beta * (pl.col("logp") - pl.col("ref_logp"))
    return df.with_columns(reward=reward).with_columns(
        margin=pl.when(pl.col("label")).then(pl.col("reward")).otherwise(-pl.col("reward")))


def _share(series) -> dict:
    return proportion(int((series > 0).sum()), series.len())


def summarize_pairs(df) -> dict:
    return {
        "n_pairs": df.height,
        "policy_preference": {"base": _share(df["ref_logp_margin"]),
                              "trained": _share(df["logp_margin"])},
        "policy_preference_length_normalised": {"base": _share(df["ref_norm_margin"]),
                                                "trained": _share(df["norm_margin"])},
        "implicit_reward": {"accuracy": _share(df["margin"]), "mean_margin": mean(df["margin"])},
    }


def flag_mislabelled(margins, threshold: float = 0.0):
    """Ledger rows for training rows whose trained `margin` is below `threshold`: after training
    on the whole set, the policy still moves against the label. Pairs (DPO): the implicit-reward
    margin, the policy prefers the answer labelled rejected. Single answers (KTO, a `label`
    column): the implicit reward in the label's direction, a desirable answer the policy made
    less likely than the reference did, or an undesirable one it made more likely."""
    import polars as pl

    bad = margins.filter(pl.col("margin") < threshold)
    if "label" in margins.columns:
        said = pl.when(pl.col("label")).then(pl.lit("desirable")).otherwise(pl.lit("undesirable"))
        detail = pl.format("trained implicit reward {} contradicts the label {} (reward in the "
                           "label's direction {} < {})", pl.col("reward").round(3), said,
                           pl.col("margin").round(3), pl.lit(threshold))
        record = pl.format('{{"row": {}, "label": {}}}', pl.col("row"),
                           pl.col("label").cast(pl.String).str.to_lowercase())
    else:
        detail = pl.format("trained implicit-reward margin {} < {}: the model prefers the "
                           "rejected answer", pl.col("margin").round(3), pl.lit(threshold))
        record = pl.lit(None, pl.String)
    return bad.select(
        step=pl.lit(FLAG_STEP), reason=pl.lit(FLAG_REASON), detail=detail,
        source=pl.col("source"), id=pl.col("id"), candidate_id=pl.lit(None, pl.String),
        record=record,
    )


def evaluate_pairs(model, tokenizer, rows, beta, out_dir, max_length=None, method="dpo",
                   name="eval") -> dict:
    """Pre-flight `rows` (pairs), score them, write OUTDIR/<name>_margins.parquet; the summary."""
    pairs, excluded = scorable(rows, tokenizer, method, max_length)
    report = {"n_rows": len(rows), "excluded": excluded, "beta": beta}
    if not pairs:
        return {**report, "n_pairs": 0}
    margins = pair_scores(model, tokenizer, pairs, beta, max_length)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    margins.write_parquet(Path(out_dir) / f"{name}_margins.parquet")
    return {**report, **summarize_pairs(margins)}


def flag_training_rows(model, tokenizer, rows, beta, out_dir, max_length=None,
                       threshold: float = 0.0, unary: bool = False) -> dict:
    """Score every training row with the final adapter — pairs, or single labelled answers when
    `unary` (KTO) — and flag likely mislabelled ones (train_margins.parquet, and
    train_flags.parquet as ledger rows)."""
    if not rows:
        return {"n_scored": 0, "n_flagged": 0}
    score = unary_scores if unary else pair_scores
    margins = score(model, tokenizer, rows, beta, max_length)
    flags = flag_mislabelled(margins, threshold)
    margins.write_parquet(Path(out_dir) / "train_margins.parquet")
    flags.write_parquet(Path(out_dir) / "train_flags.parquet")
    return {"n_scored": margins.height, "n_flagged": flags.height, "flag_threshold": threshold}


def prompt_key(prompt) -> str:
    """One string per prompt (string or chat messages), stable across runs."""
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True,
                                                               ensure_ascii=False)


def evaluate_unary(model, tokenizer, rows, beta, out_dir, max_length=None) -> dict:
    """KTO held-out rows: label accuracy of the implicit reward over every scorable row, and the
    pair metrics over prompts that have a desirable and an undesirable answer."""
    import polars as pl

    kept, excluded = scorable(rows, tokenizer, "kto", max_length)
    report = {"n_rows": len(rows), "excluded": excluded, "beta": beta}
    if not kept:
        return report
    df = unary_scores(model, tokenizer, kept, beta, max_length)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    df.write_parquet(Path(out_dir) / "eval_rewards.parquet")
    right = df.filter(pl.col("margin") > 0).height  # the reward's sign matches the label
    report["label_accuracy"] = proportion(right, df.height)
    report["mean_reward"] = {"desirable": mean(df.filter(pl.col("label"))["reward"]),
                             "undesirable": mean(df.filter(~pl.col("label"))["reward"])}
    by_prompt: dict[str, dict] = {}
    for r in kept:
        slot = by_prompt.setdefault(prompt_key(r["prompt"]), {"id": r["id"], "source": r.get("source"),
                                                               "prompt": r["prompt"]})
        slot.setdefault("chosen" if r["label"] else "rejected", r["completion"])
    pairs = [p for p in by_prompt.values() if "chosen" in p and "rejected" in p]
    report["n_pairs"] = len(pairs)
    if pairs:
        margins = pair_scores(model, tokenizer, pairs, beta, max_length)
        margins.write_parquet(Path(out_dir) / "eval_margins.parquet")
        report.update(summarize_pairs(margins))
    return report


def evaluate_sft(model, tokenizer, rows, out_dir, max_length=None) -> dict:
    """Held-out loss (mean NLL per completion token) and perplexity, base vs trained."""
    import math

    from datatools.train.methods.sft import pieces

    kept, excluded = scorable(rows, tokenizer, "sft", max_length)
    report = {"n_rows": len(rows), "excluded": excluded, "n_scored": len(kept)}
    if not kept:
        return report
    prompts, completions = zip(*[pieces(r)[0][1:] for r in kept])
    logps, counts, ref = _both(model, tokenizer, list(prompts), list(completions), max_length)
    n = sum(counts)
    for name, values in (("base", ref), ("trained", logps)):
        loss = -sum(values) / max(n, 1)
        report[name] = {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}
    report["n_tokens"] = n
    return report


def flag_file(margins_path: str | Path, threshold: float, out: str | Path) -> int:
    """CLI helper: re-flag an exported margins parquet with another threshold."""
    import polars as pl

    flags = flag_mislabelled(pl.read_parquet(margins_path), threshold)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    flags.write_parquet(out)
    return flags.height


def write_report(report: dict, out_dir) -> Path:
    path = Path(out_dir) / "eval.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    return path
