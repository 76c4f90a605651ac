"""What reading one source gives (`ReadResult`), and the rules every reader ends with: an
empty source or one with no readable record is a SourceError."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl
from datatools.schemas.errors import Problem, SourceError
from datatools.schemas.recipe import Source

from datatools.formats import combine_kinds
from datatools.frame import LEDGER_SCHEMA


@dataclass
class ReadResult:
    frame: pl.DataFrame    # canonical rows (FRAME_SCHEMA)
    rejects: pl.DataFrame  # ledger rows (LEDGER_SCHEMA), step "read"
    format: str            # detected (or forced) format; "mixed" for folders of several
    kind: str              # pairwise / unary / sft / candidates / prompt, or mixed
    records: int           # raw records seen, readable or not
    scores_synthesised: int = 0  # pairs whose source had no scores (1.0 / 0.0 stand in)
    no_completion: int = 0       # records read with a prompt but no answer
    rows: int = 0                # frame rows read (also when they went to a sink, not `frame`)
    unused_keys: dict[str, int] = field(default_factory=dict)  # of those records: key → count

    def notes(self) -> list[str]:
        """What a user should know about how the source was read, in sentences."""
        out = []
        if self.scores_synthesised:
            out.append(f"{self.scores_synthesised} pairs had no scores in the source: chosen "
                       "1.0 / rejected 0.0 were synthesised (min_margin and ties cannot act on "
                       "them; map real scores with `columns:`, e.g. metadata.score_chosen: "
                       "score_chosen)")
        if self.no_completion:
            keys = ", ".join(f"{k} ({n})" for k, n in self.unused_keys.items())
            out.append(f"{self.no_completion} records have no completion"
                       + (f"; source keys not read: {keys}" if keys else ""))
        return out


class Pieces(list):
    """The frame's pieces as read: kept (a list), or each handed to `sink` and only counted."""

    def __init__(self, sink=None):
        super().__init__()
        self.sink, self.rows, self.pieces = sink, 0, 0

    def append(self, piece: pl.DataFrame) -> None:
        self.rows += piece.height
        self.pieces += 1
        if self.sink is None:
            super().append(piece)
        else:
            self.sink(piece)


def read_result(source: Source, frames: Pieces, rejects: list, formats: list, kinds: set,
            seen: int, notes: Counter) -> ReadResult:
    check_empty(source, seen)
    if not frames.pieces:
        reasons = Counter(r["reason"] for r in rejects)
        first = rejects[0] if rejects else None
        counts = ", ".join(f"{reason}: {n}" for reason, n in reasons.items())
        raise SourceError(Problem(source.name, (
            f"no readable records among {seen} ({counts})"
            + (f"; first: {first['source']}: {first['detail']}" if first else ""))))
    from datatools.frame import empty_frame

    return ReadResult(
        frame=(pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]) if frames
        else empty_frame(),
        rows=frames.rows,
        rejects=pl.DataFrame(rejects, schema=LEDGER_SCHEMA) if rejects
        else pl.DataFrame(schema=LEDGER_SCHEMA),
        format=formats[0] if len(set(formats)) == 1 else "mixed",
        kind=combine_kinds(kinds),
        records=seen,
        scores_synthesised=notes["scores_synthesised"],
        no_completion=notes["no_completion"],
        unused_keys={k[7:]: n for k, n in notes.most_common() if k.startswith("unused:")},
    )


def check_empty(source: Source, seen: int) -> None:
    if seen == 0:
        raise SourceError(Problem(source.name, "empty: no records found"))
