"""Mixing sources by ratio: the final datasets resampled to target shares or counts per source
(or per source tag), with the recipe's seed. TÜLU 3 tunes its SFT/DPO mixture this way.

Applied to what the builders made, so the ratios hold in what is written. A dataset row's group
is the recipe source it was read from (its `source` is `<source name>:<line>`, or
`<folder>/<file>:<line>` for a folder). Rows sampled out are ledgered as `mix.downsampled`;
rows repeated to reach a target keep their record `id` (so a held-out split by id never puts a
repeat on the other side of its original) and carry `"mix_repeat": k` in their meta.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import polars as pl
import xxhash

from datatools.frame import LEDGER_SCHEMA
from datatools.schemas.mix import MixParams
from datatools.schemas.recipe import Source

STEP, DOWNSAMPLED = "mix", "mix.downsampled"


@dataclass
class Mixed:
    data: pl.DataFrame
    skipped: pl.DataFrame
    report: dict = field(default_factory=dict)  # per group: available, requested, achieved, ...


def group_keys(data: pl.DataFrame, sources: list[Source], by: str) -> pl.Series:
    """Each row's mix key: its source's name (by source) or tag (by tag); null if no source
    matches (a row from outside the recipe's sources is left as it is)."""
    expr = pl.lit(None, pl.String)
    # longest names first, so a source named `data` does not claim `data2.jsonl`'s rows
    for s in sorted(sources, key=lambda s: -len(s.name)):
        name = s.name
        hit = (pl.col("source").str.starts_with(name + ":")
               | pl.col("source").str.starts_with(name.rstrip("/") + "/"))
        expr = pl.when(hit & expr.is_null()).then(pl.lit(s.tag if by == "tag" else name)) \
            .otherwise(expr)
    return data.select(expr.alias("key"))["key"]


def targets(available: dict[str, int], mix: MixParams) -> dict[str, int]:
    """Rows wanted per group. Shares: of `total`, else of the largest total no group must
    repeat for (with upsample: the dataset's size), split by largest remainders."""
    if mix.counts:
        return {k: mix.counts.get(k, n) for k, n in available.items()}
    weight = sum(mix.shares.get(k, 0.0) for k in available)
    shares = {k: (mix.shares.get(k, 0.0) / weight if weight else 0.0) for k in available}
    if mix.total is not None:
        total = mix.total
    elif mix.upsample:
        total = sum(available.values())
    else:
        total = min((n / shares[k] for k, n in available.items() if shares[k] > 0),
                    default=0)
        total = int(math.floor(total + 1e-9))
    exact = {k: total * s for k, s in shares.items()}
    wanted = {k: int(math.floor(v)) for k, v in exact.items()}
    by_remainder = sorted(exact, key=lambda k: (wanted[k] - exact[k], k))
    for k in by_remainder[:total - sum(wanted.values())]:
        wanted[k] += 1
    return wanted


def mix_dataset(data: pl.DataFrame, kind: str, mix: MixParams, sources: list[Source],
                seed: int) -> Mixed:
    keys = group_keys(data, sources, mix.by)
    rows_of: dict[str, list[int]] = {}
    for i, k in enumerate(keys.to_list()):
        if k is not None:
            rows_of.setdefault(k, []).append(i)
    available = {k: len(v) for k, v in rows_of.items()}
    wanted = targets(available, mix)
    keep: list[int] = [i for i, k in enumerate(keys.to_list()) if k is None]
    repeats: list[tuple[int, int]] = []  # (row, k-th repeat)
    dropped: list[tuple[int, str]] = []
    report = {}
    total_wanted = sum(wanted.values())
    ids = data["id"].to_list()
    for k, rows in rows_of.items():
        n, t = len(rows), wanted[k]
        # Rows in a seeded order of their record id: every dataset of the build keeps the
        # same records where it can (the SFT and DPO mixtures draw the same prompts), and a
        # record's rows (a KTO prompt's two labels) stay together.
        order = sorted(range(n), key=lambda j: (_rank(seed, ids[rows[j]]), j))
        if t <= n:
            chosen = sorted(order[:t])
            picked = set(chosen)
            keep += [rows[j] for j in chosen]
            asked = (f"count {t}" if mix.counts else
                     f"share {_share(mix, k, available):g} of {total_wanted}")
            why = f"{kind}: {mix.by} {k} keeps {t} of its {n} rows ({asked} requested)"
            dropped += [(rows[j], why) for j in range(n) if j not in picked]
            repeated = 0
        elif mix.upsample:
            keep += rows
            extra = t - n
            again = [j for _ in range(extra // n) for j in range(n)] + sorted(order[:extra % n])
            seen: dict[int, int] = {}
            for j in again:
                seen[j] = seen.get(j, 0) + 1
                repeats.append((rows[j], seen[j]))
            repeated = extra
        else:
            keep += rows
            repeated = 0
        report[k] = {"available": n, "requested": t, "achieved": t if t <= n or mix.upsample
                     else n, "downsampled": max(n - t, 0), "repeated": repeated,
                     "requested_share": _share(mix, k, available)}
    achieved_total = sum(r["achieved"] for r in report.values())
    for r in report.values():
        r["achieved_share"] = round(r["achieved"] / achieved_total, 4) if achieved_total else None
    out = data[sorted(keep)] if keep else data.clear()
    if repeats:
        copies = data[[r for r, _ in repeats]]
        copies = copies.with_columns(pl.Series("meta", [
            _mark(m, k) for m, (_, k) in zip(copies["meta"].to_list(), repeats)], pl.String))
        out = pl.concat([out, copies], how="vertical_relaxed")
    return Mixed(out, _ledger(data, dropped), report)


def _rank(seed: int, record_id: str) -> int:
    return xxhash.xxh64_intdigest(f"{seed}:{record_id}".encode())


def _share(mix: MixParams, key: str, available: dict) -> float | None:
    if not mix.shares:
        return None
    weight = sum(mix.shares.get(k, 0.0) for k in available)
    return round(mix.shares.get(key, 0.0) / weight, 4) if weight else None


def _mark(meta: str | None, k: int) -> str:
    try:
        value = json.loads(meta) if meta else {}
    except ValueError:
        value = {}
    if not isinstance(value, dict):
        value = {"meta": value}
    value["mix_repeat"] = k
    return json.dumps(value, ensure_ascii=False, default=str)


def _ledger(data: pl.DataFrame, dropped: list[tuple[int, str]]) -> pl.DataFrame:
    if not dropped:
        return pl.DataFrame(schema=LEDGER_SCHEMA)
    rows = data[[i for i, _ in dropped]]
    return pl.DataFrame({
        "step": [STEP] * len(dropped), "reason": [DOWNSAMPLED] * len(dropped),
        "detail": [why for _, why in dropped], "source": rows["source"], "id": rows["id"],
        "candidate_id": [None] * len(dropped),
        "record": [json.dumps(r, ensure_ascii=False, default=str) for r in rows.to_dicts()],
    }, schema=LEDGER_SCHEMA)


def apply_mix(mix: MixParams | None, sources: list[Source], seed: int,
              datasets: dict[str, pl.DataFrame]) -> tuple[list[pl.DataFrame], dict]:
    """Mix each dataset the mixture names, in place in `datasets`; returns the ledger frames
    and {kind: {group: available / requested / achieved ...}} for report.json."""
    if mix is None:
        return [], {}
    ledgers, report = [], {}
    for kind in mix.kinds:
        if kind not in datasets:
            continue
        mixed = mix_dataset(datasets[kind], kind, mix, sources, seed)
        datasets[kind] = mixed.data
        ledgers.append(mixed.skipped)
        report[kind] = {"by": mix.by, "groups": mixed.report, "rows": mixed.data.height}
    return ledgers, report


def rebalanced_unary(data: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """A mixed KTO dataset: labels interleaved again and λ_D/λ_U recomputed for its new
    counts with the builder's own rule (KTO Eq. 8), so metadata.json matches what is written."""
    from datatools.builders.unary import kto_dataset

    return kto_dataset(data)
