"""The prompt-only output kind: one row per record with `prompt`, `answer` and `constraints`,
what GRPO and on-policy generation read. Records a step marked `meta.split = "held_out"` (e.g.
constrain_prompts' held-out share) get `split = "test"`; the writer puts them in
OUT/prompts/test.parquet, apart from train.parquet, and nothing trains on them.

`answer` is the reference answer as text (from `meta[answer_key]`), `constraints` the record's
constraint spec as JSON text (`meta[constraints_key]`, or IFEval's own `instruction_id_list` +
`kwargs` columns: `verifiers.constraints_from_meta`, the rule the `verifiable` step uses too),
both checked by `datatools.verifiers.score_completion`. A record whose constraints do not parse,
or (with `require_checks`) that has nothing to verify, is a ledger row with its reason.
"""
from __future__ import annotations

import json

import polars as pl

from datatools.frame import LEDGER_SCHEMA, MESSAGE
from datatools.verifiers import ConstraintError, constraints_from_meta, parse_constraints

STEP = "build.prompts"
BAD_CONSTRAINTS = "build.prompts.bad_constraints"
UNVERIFIABLE = "build.prompts.unverifiable"
HELD_OUT = "held_out"  # meta.split of a record kept for evaluation
PROMPTS_SCHEMA = {
    "id": pl.String, "source": pl.String, "prompt": pl.List(MESSAGE), "answer": pl.String,
    "constraints": pl.String, "meta": pl.String, "split": pl.String,
}


def _skip(rid, source, prompt, meta, reason: str, detail: str) -> dict:
    return dict(step=STEP, reason=reason, detail=detail, source=source, id=rid,
                candidate_id=None, record=json.dumps({"prompt": prompt, "meta": meta},
                                                     ensure_ascii=False, default=str))


def build_prompts(frame: pl.DataFrame, params) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(rows with a `split` column of train | test, skipped ledger rows, {"splits": counts})."""
    firsts = frame.unique("id", keep="first", maintain_order=True).select(
        "id", "source", "prompt", "meta")
    rows, skipped = [], []
    for rid, source, prompt, meta_text in firsts.iter_rows():
        try:
            meta = json.loads(meta_text) if meta_text else {}
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            skipped.append(_skip(rid, source, prompt, meta_text, BAD_CONSTRAINTS,
                                 "meta is not a JSON object"))
            continue
        answer = meta.get(params.answer_key) if params.answer_key else None
        spec = constraints_from_meta(meta, params.constraints_key)
        try:
            parsed = parse_constraints(spec, f"meta[{params.constraints_key!r}]")
        except ConstraintError as err:
            skipped.append(_skip(rid, source, prompt, meta, BAD_CONSTRAINTS, str(err)))
            continue
        if params.require_checks and answer is None and not any(kw is not None
                                                                for _, kw in parsed):
            skipped.append(_skip(
                rid, source, prompt, meta, UNVERIFIABLE, "no reference answer and no "
                f"constraints (meta[{params.answer_key!r}], meta[{params.constraints_key!r}] or "
                "IFEval's instruction_id_list + kwargs); no verifier could reward it "
                "(require_checks: false keeps it)"))
            continue
        rows.append({"id": rid, "source": source, "prompt": prompt,
                     "answer": None if answer is None else str(answer),
                     "constraints": None if spec is None else (
                         spec if isinstance(spec, str) else json.dumps(spec, ensure_ascii=False)),
                     "meta": meta_text,
                     "split": "test" if meta.get("split") == HELD_OUT else "train"})
    data = pl.DataFrame(rows, schema=PROMPTS_SCHEMA)
    counts = {s: int((data["split"] == s).sum()) for s in ("train", "test")}
    return data, pl.DataFrame(skipped, schema=LEDGER_SCHEMA), {"splits": counts}
