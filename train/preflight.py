"""Pre-flight: tokenize every row exactly as TRL will (same tokenizer, chat template, max_length,
keep_start truncation) and find the rows that would train on garbage, before any GPU time.

Reasons (ledger `reason` codes):
  preflight.prompt_not_prefix    the tokenized prompt is not a prefix of prompt+completion (chat
                                 template renders it differently, or tokens merge at the boundary)
  preflight.prompt_too_long      the prompt alone fills max_length: no completion token survives
  preflight.completion_truncated fewer than half of the completion's tokens survive truncation
  preflight.eos_cut              truncation cuts the end-of-turn token: the model learns not to stop
  preflight.identical_pair       chosen == rejected: zero gradient, pure noise in the metrics
Run-level: KTO with a per-device batch < 2 (its KL estimate needs a mismatched pair per batch).
"""
from __future__ import annotations

import json
from pathlib import Path

from datatools.schemas.errors import ConfigError, Problem, QualityGateError

STEP = "train.preflight"


def tokenize_prompt_completion(tokenizer, prompt, completion) -> tuple[list[int], list[int]]:
    """(prompt_ids, prompt+completion ids) the way TRL 1.16 builds them."""
    if isinstance(prompt, list):  # conversational
        p = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True,
                                          return_dict=True)["input_ids"]
        full = tokenizer.apply_chat_template(prompt + list(completion), tokenize=True,
                                             return_dict=True)["input_ids"]
        return list(p), list(full)
    text = completion if completion.endswith(tokenizer.eos_token) else completion + tokenizer.eos_token
    return tokenizer(prompt)["input_ids"], tokenizer(prompt + text)["input_ids"]


def check_completion(tokenizer, prompt, completion, max_length: int | None) -> list[tuple[str, str]]:
    """Problems of one prompt+completion: [(reason, detail)]."""
    p, full = tokenize_prompt_completion(tokenizer, prompt, completion)
    out = []
    if full[: len(p)] != p:
        out.append(("preflight.prompt_not_prefix",
                    f"prompt renders as {tokenizer.decode(p[-8:])!r} alone but "
                    f"{tokenizer.decode(full[len(p) - 8:len(p)])!r} before the completion"))
    if max_length is None:
        return out
    n_completion = len(full) - len(p)
    if len(p) >= max_length:
        return out + [("preflight.prompt_too_long",
                       f"prompt is {len(p)} tokens, max_length {max_length}")]
    kept = min(len(full), max_length) - len(p)
    if n_completion > 0 and kept < n_completion / 2:
        out.append(("preflight.completion_truncated",
                    f"{kept} of {n_completion} completion tokens kept (max_length {max_length})"))
    eos = tokenizer.eos_token_id
    ends = [i for i in range(len(p), len(full)) if full[i] == eos]
    if ends and ends[-1] >= max_length:
        out.append(("preflight.eos_cut", f"end-of-turn token at position {ends[-1]} is cut by "
                                         f"max_length {max_length} ({len(full)} tokens in all)"))
    return out


def _content(x) -> str:
    return json.dumps(x, sort_keys=True, ensure_ascii=False) if not isinstance(x, str) else x


def row_problems(tokenizer, row: dict, method: str, max_length: int | None) -> list[tuple[str, str]]:
    """Every problem of one row; the method says which (prompt, completion) pieces it trains on."""
    from datatools.train.methods import get_method

    pieces = get_method(method).pieces(row)
    problems = []
    if len(pieces) == 2 and _content(pieces[0][2]) == _content(pieces[1][2]):
        problems.append(("preflight.identical_pair",
                         f"{pieces[0][0]} and {pieces[1][0]} are the same text"))
    for side, prompt, completion in pieces:
        for reason, detail in check_completion(tokenizer, prompt, completion, max_length):
            problems.append((reason, f"{side}: {detail}" if side else detail))
    return problems


def preflight(ds, tokenizer, method: str, max_length: int | None, batch_size: int,
              policy: str = "quarantine", out_dir: Path | None = None):
    """(kept dataset, ledger rows). Writes out_dir/preflight_rejects.parquet when rows are bad.

    policy "stop" raises QualityGateError listing each reason's count and a first example.
    """
    import polars as pl

    from datatools.train.methods import get_method

    problems = get_method(method).run_checks({"batch_size": batch_size, "max_length": max_length})
    if problems:
        raise ConfigError(problems)
    ledger, keep = [], []
    for k, row in enumerate(ds):
        problems = row_problems(tokenizer, row, method, max_length)
        if not problems:
            keep.append(k)
        for reason, detail in problems:
            ledger.append({"step": STEP, "reason": reason, "detail": detail,
                           "source": row.get("source"), "id": row.get("id"), "candidate_id": None,
                           "record": json.dumps(row, ensure_ascii=False, default=str)})
    rejects = pl.DataFrame(ledger, schema={c: pl.String for c in
                                           ("step", "reason", "detail", "source", "id",
                                            "candidate_id", "record")})
    if ledger and out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        rejects.write_parquet(Path(out_dir) / "preflight_rejects.parquet")
    if ledger and policy == "stop":
        counts = rejects.group_by("reason").agg(pl.len(), pl.first("id"), pl.first("detail"))
        raise QualityGateError([
            Problem(f"preflight:{r['reason']}", f"{r['len']} row(s), e.g. id {r['id']}: {r['detail']}")
            for r in counts.sort("reason").to_dicts()
        ])
    if not keep:
        raise QualityGateError(Problem("preflight", f"all {len(ds)} rows failed pre-flight; see "
                                                    "preflight_rejects.parquet"))
    return ds.select(keep), rejects
