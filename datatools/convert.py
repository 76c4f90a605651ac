"""`datatools convert IN OUT --to trl|swift|sharegpt|alpaca`: change format without a recipe.

IN is read like a recipe source (any supported file, folder or saved dataset; format
detected). The source's own keys that no format field holds (its ids, metadata) are kept
on each written record. Records are regrouped from the canonical rows (see `formats.export`): pairs become
the target's preference form, labelled answers its KTO form, single answers SFT, bare prompts
prompt-only. Alpaca has no native preference form: pairs are written in LLaMA-Factory's
alpaca ranking form (`instruction`, `input`, `chosen`, `rejected` strings), labelled answers
with `kto_tag`. The output type follows OUT's extension: .jsonl (.jsonl.gz), .json, .parquet.
"""
from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from datatools.schemas.errors import Problem, SourceError, UserError
from datatools.schemas.recipe import Source

from datatools.formats.export import EXPORTERS, TARGETS, canonical_records
from datatools.readers import read_source

OUT_TYPES = (".jsonl", ".jsonl.gz", ".json", ".parquet")


def convert_path(in_path: str, out_path: str, to: str) -> dict[str, Any]:
    """Convert IN to format `to`, write OUT atomically, return the counts."""
    if to not in TARGETS:
        raise UserError(Problem("--to", f"unknown target {to!r}; choose one of "
                                f"{', '.join(TARGETS)}"))
    out_type = next((t for t in OUT_TYPES if out_path.lower().endswith(t)), None)
    if out_type is None:
        raise UserError(Problem(out_path, f"output must end with one of {', '.join(OUT_TYPES)}"))
    if Path(out_path).resolve() == Path(in_path).resolve():
        raise UserError(Problem(out_path, "output would overwrite the input"))
    result = read_source(Source(path=in_path), Path.cwd())
    export = EXPORTERS[to]
    records, kinds, skipped = [], Counter(), Counter()
    for kind, prompt, payload, extras in canonical_records(result.frame):
        if kind.startswith("skip:"):
            skipped[kind[5:]] += 1
            continue
        record = export(kind, prompt, payload)
        if record is None:
            skipped[f"{kind} not representable in {to}"] += 1
            continue
        # the source's own keys (ids, metadata) travel along; the format's fields win a clash
        records.append({**record, **{k: v for k, v in extras.items() if k not in record}})
        kinds[kind] += 1
    if not records:
        raise SourceError(Problem(in_path, f"nothing to write: every record was skipped "
                                  f"({dict(skipped)})"))
    write_records(records, Path(out_path), out_type)
    return {
        "input": in_path, "output": out_path, "from": result.format, "to": to,
        "records_read": result.records, "read_rejects": result.rejects.height,
        "read_rejects_by_reason": dict(result.rejects.group_by("reason").len().iter_rows()),
        "written": len(records), "by_kind": dict(kinds), "skipped": dict(skipped),
        "notes": result.notes(),
    }


def write_records(records: list[dict], path: Path, out_type: str) -> None:
    """Write to a temporary file beside OUT and rename: a killed run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if out_type == ".parquet":
            import polars as pl

            pl.DataFrame(records, infer_schema_length=None).write_parquet(tmp)
        elif out_type == ".json":
            tmp.write_text(json.dumps(records, ensure_ascii=False, indent=2) + "\n",
                           encoding="utf-8")
        else:
            opener = gzip.open if out_type == ".jsonl.gz" else open
            with opener(tmp, "wt", encoding="utf-8") as fh:
                for record in records:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
