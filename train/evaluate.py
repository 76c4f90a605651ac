"""Held-out evaluation and feedback to the builder.

Implicit reward (DPO, Rafailov et al. 2023, Eq. 5): r(x, y) = β·log π(y|x)/π_ref(y|x). A pair is
ranked right when r(chosen) > r(rejected); ties (e.g. the untrained model, where π = π_ref and
every margin is 0) count one half, so an untrained adapter scores 0.5. We also report the raw
log-probability ranking (log π(chosen) > log π(rejected)), which is meaningful for the base too.

Pairs the trained model strongly disagrees with (margin below a negative threshold) are likely
mislabelled; `flag_mislabelled` writes them as ledger rows (step "train.flag") the user can
inspect and append to OUT/rejects/.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from train.preflight import tokenize_prompt_completion

FLAG_STEP, FLAG_REASON = "train.flag", "train.likely_mislabelled"


def sequence_logps(model, tokenizer, prompts, completions, max_length=None, batch_size=8):
    """Sum of log π(completion tokens | prompt) per row, tokenized and truncated as TRL does."""
    import torch

    rows = []
    for prompt, completion in zip(prompts, completions):
        p, full = tokenize_prompt_completion(tokenizer, prompt, completion)
        n_prompt = next((i for i, (a, b) in enumerate(zip(p, full)) if a != b), min(len(p), len(full)))
        full = full[:max_length] if max_length else full
        rows.append((full, min(n_prompt, len(full))))
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = []
    model.eval()
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        attn = torch.zeros_like(ids)
        mask = torch.zeros_like(ids, dtype=torch.bool)
        for i, (seq, n_prompt) in enumerate(chunk):
            ids[i, :len(seq)] = torch.tensor(seq)
            attn[i, :len(seq)] = 1
            mask[i, n_prompt:len(seq)] = True
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=attn.to(device)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tok = logp.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
        out += (tok * mask[:, 1:].to(device)).sum(-1).tolist()
    return out


@contextlib.contextmanager
def reference(model):
    """The reference policy of a PEFT model: its frozen "ref" adapter when it continues from one
    (loaded by `load_for_eval`), else the base model with the adapter disabled."""
    if "ref" in getattr(model, "peft_config", {}):
        active = model.active_adapter
        model.set_adapter("ref")
        try:
            yield
        finally:
            model.set_adapter(active)
    else:
        with model.disable_adapter():
            yield


def pair_margins(model, tokenizer, pairs, beta: float, max_length=None, batch_size=8):
    """A polars frame, one row per pair: log-probs under π and π_ref and the implicit margin."""
    import polars as pl

    prompts = [p["prompt"] for p in pairs]
    cols = {}
    for side in ("chosen", "rejected"):
        comps = [p[side] for p in pairs]
        cols[f"logp_{side}"] = sequence_logps(model, tokenizer, prompts, comps, max_length, batch_size)
        with reference(model):
            cols[f"ref_logp_{side}"] = sequence_logps(model, tokenizer, prompts, comps, max_length,
                                                      batch_size)
    df = pl.DataFrame({"id": [p["id"] for p in pairs], "source": [p["source"] for p in pairs], **cols},
                      schema_overrides={"id": pl.String, "source": pl.String})
    return df.with_columns(
        margin=beta * ((pl.col("logp_chosen") - pl.col("ref_logp_chosen"))
                       - (pl.col("logp_rejected") - pl.col("ref_logp_rejected"))),
        ref_logp_margin=pl.col("ref_logp_chosen") - pl.col("ref_logp_rejected"),
        logp_margin=pl.col("logp_chosen") - pl.col("logp_rejected"),
    )


def _accuracy(values) -> float:
    values = list(values)
    if not values:
        return float("nan")
    return sum(1.0 if v > 1e-9 else 0.5 if abs(v) <= 1e-9 else 0.0 for v in values) / len(values)


def summarize(margins) -> dict:
    """Base (π_ref) vs trained (π): pairwise accuracy and mean margin."""
    n = margins.height
    return {
        "n_pairs": n,
        "base": {"accuracy": 0.5 if n else float("nan"), "mean_margin": 0.0,
                 "logp_accuracy": _accuracy(margins["ref_logp_margin"])},
        "trained": {"accuracy": _accuracy(margins["margin"]),
                    "mean_margin": float(margins["margin"].mean() or 0.0),
                    "logp_accuracy": _accuracy(margins["logp_margin"])},
    }


def flag_mislabelled(margins, threshold: float = -1.0):
    """Ledger rows for pairs whose trained margin is below `threshold` (< 0: model disagrees)."""
    import polars as pl

    bad = margins.filter(pl.col("margin") < threshold)
    return bad.select(
        step=pl.lit(FLAG_STEP), reason=pl.lit(FLAG_REASON),
        detail=pl.format("trained implicit-reward margin {} < {}: the model prefers the rejected "
                         "answer", pl.col("margin").round(3), pl.lit(threshold)),
        source=pl.col("source"), id=pl.col("id"), candidate_id=pl.lit(None, pl.String),
        record=pl.lit(None, pl.String),
    )


def evaluate_pairs(model, tokenizer, pairs, beta, out_dir, max_length=None, threshold=-1.0,
                   name="eval") -> dict:
    """Write OUTDIR/<name>_margins.parquet and <name>_flags.parquet; return the summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    margins = pair_margins(model, tokenizer, pairs, beta, max_length)
    margins.write_parquet(out_dir / f"{name}_margins.parquet")
    flags = flag_mislabelled(margins, threshold)
    flags.write_parquet(out_dir / f"{name}_flags.parquet")
    return {**summarize(margins), "beta": beta, "n_flagged": flags.height,
            "flag_threshold": threshold}


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
