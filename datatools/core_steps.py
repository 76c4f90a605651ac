"""The two core steps: `validate` and `exact_dedup`."""
from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from datatools.builders.ranking import candidate_role, rank_score
from datatools.frame import RECORD_LEVEL_FIELDS, field_column, field_text
from datatools.labels.conflicts import conflicting_labels
from datatools.step import Step, partition, select_in_slices, select_per_record

ROLES = ("system", "user", "assistant", "tool")


class ValidateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    require_completion: bool = Field(
        False, description="reject prompt-only rows (turn on when no generate step follows)"
    )
    prompt_must_end_with_user: bool = Field(
        True, description="the last prompt turn must be a user (or tool) turn"
    )


class Validate(Step):
    """Structural checks: empty prompt or completion, bad roles, prompt not ending with a user
    turn, chosen identical to rejected, non-finite scores."""

    name = "validate"
    scope = "record"  # same-text check within a record
    filters_rows = True
    Params = ValidateParams
    requires = ("prompt", "completion", "score", "label")

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        roles = pl.col("prompt").list.eval(pl.element().struct.field("role"))
        contents = pl.col("prompt").list.eval(pl.element().struct.field("content"))
        bad_role = roles.list.eval(~pl.element().is_in(ROLES)).list.any()
        prompt_empty = (
            contents.list.eval(pl.element().str.strip_chars().str.len_chars()).list.sum() == 0
        ) | (pl.col("prompt").list.len() == 0)
        last_role = roles.list.last()
        completion = pl.col("completion")
        # "no non-space character" (same Unicode White_Space as strip_chars) scans without
        # allocating a stripped copy of every completion (GBs at a million records)
        empty_completion = completion.is_not_null() & ~completion.str.contains(r"\S")
        # Same text under two different scores in one record: no preference can be learned.
        same_text_diff_score = pl.col("__same_text")
        frame = frame.with_columns(_same_text_diff_score(frame).alias("__same_text"))
        reason = (
            pl.when(pl.col("prompt").is_null() | prompt_empty).then(pl.lit("validate.empty_prompt"))
            .when(bad_role).then(pl.lit("validate.bad_role"))
            .when(pl.lit(p.prompt_must_end_with_user) & ~last_role.is_in(["user", "tool"]))
            .then(pl.lit("validate.prompt_not_ending_with_user"))
            .when(pl.lit(p.require_completion) & completion.is_null())
            .then(pl.lit("validate.missing_completion"))
            .when(empty_completion).then(pl.lit("validate.empty_completion"))
            .when(pl.col("score").is_not_null() & ~pl.col("score").is_finite())
            .then(pl.lit("validate.score_not_finite"))
            .when(same_text_diff_score).then(pl.lit("validate.chosen_equals_rejected"))
        )
        detail = (
            pl.when(bad_role).then(pl.lit("roles: ") + roles.list.join(","))
            .when(~last_role.is_in(["user", "tool"])).then(pl.lit("last turn: ") + last_role)
            .when(same_text_diff_score)
            .then(pl.lit("identical completion text under different scores"))
        )
        kept, rejected = partition(frame, reason, detail, row_wise=True)
        # across records, so only exact when the step sees the whole frame (local executor)
        self.stats = conflicting_labels(kept)
        return kept.drop("__same_text"), rejected.drop("__same_text")


def _same_text_diff_score(frame: pl.DataFrame) -> pl.Series:
    """Per row: another row of its record has the same completion text and another score.

    Exactly `n_unique(score).over(["id", "completion"]) > 1`, but only on the rows whose
    64-bit hash of (id, completion) occurs more than once: a window keyed on the text itself
    row-encodes every completion (+2 GB at a million records). Those rows are a superset
    (a collision can only add rows) and few, and the text-keyed window on them alone gives the
    exact answer (a row's whole (id, text) group shares its hash, so it is in the subset).
    """
    score = rank_score()
    key = select_in_slices(frame, pl.struct("id", "completion").hash(seed=0).alias("k"))["k"]
    flags = key.is_duplicated() & frame["completion"].is_not_null()
    if not flags.any():
        return flags.alias("c")
    rows = (frame.with_row_index("__row").filter(flags)
            .select("__row", (score.n_unique().over(["id", "completion"]) > 1).alias("c")))
    return pl.Series("c", [False] * frame.height, pl.Boolean).scatter(rows["__row"], rows["c"])


# A record's best / worst answer by the ranking rule, usable as dedup fields on pairwise data.
PAIR_FIELDS = frozenset({"chosen", "rejected"})
PAIR_FIELD_COLUMNS = ("completion", "score", "label")


def collapse_whitespace(text: pl.Expr) -> pl.Expr:
    """Every run of whitespace as one space: `replace_all(r"\s+", " ")`, matching only the runs
    that are not already a single space (two or more whitespace characters, or one that is
    not " "). Same result (tested on random mixes of Unicode whitespace), but ordinary text
    has no match at all: 3x less CPU than replacing every space between words by a space."""
    return text.str.replace_all(r"\s\s+|[^\S ]", " ")


class ExactDedupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: list[str] = Field(
        default_factory=lambda: ["prompt"], min_length=1,
        description="text fields compared: prompt, last_user, completion, chosen / rejected "
        "(a record's best / worst answer, as ranked: duplicate pairs), or a column name. "
        "Fields of the whole record drop whole duplicate records; with completion, duplicate rows",
    )
    normalize: bool = Field(True, description="casefold and collapse whitespace before hashing")


class ExactDedup(Step):
    """Drop exact duplicates by a hash of (normalised) text over the chosen fields; the first
    occurrence is kept and named in each duplicate's detail."""

    name = "exact_dedup"
    scope = "global"  # first occurrence over the dataset
    filters_rows = True
    Params = ExactDedupParams

    def required_columns(self) -> set[str]:
        return {c for f in self.params.fields
                for c in (PAIR_FIELD_COLUMNS if f in PAIR_FIELDS else (field_column(f),))}

    @property
    def keep_column(self) -> str:
        """Fields of the whole record (prompt, chosen / rejected) compare records (by id);
        otherwise single rows."""
        return "id" if set(self.params.fields) <= RECORD_LEVEL_FIELDS | PAIR_FIELDS \
            else "candidate_id"

    def with_keys(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame plus `__key`: a 64-bit hash of the (normalised) fields, row by row."""
        texts = frame
        pair = [f for f in self.params.fields if f in PAIR_FIELDS and f not in frame.columns]
        if pair:  # a record's chosen / rejected answer on each of its rows (the ranking rule)
            role = candidate_role()
            texts = frame.with_columns(
                pl.col("completion").filter(role == f).first().over("id").alias(f"__{f}")
                for f in pair)
        parts = []
        for f in self.params.fields:
            text = pl.col(f"__{f}").fill_null("") if f in pair else field_text(f)
            if self.params.normalize:
                text = collapse_whitespace(text.str.to_lowercase()).str.strip_chars()
            parts.append(text)
        key = pl.concat_str(parts, separator="\x1f").hash(seed=0)
        # the normalised texts exist a slice at a time; only their 64-bit hashes are kept
        per = select_per_record if self.keep_column == "id" else select_in_slices
        return frame.with_columns(per(texts, key.alias("__key"))["__key"])

    def split(self, f: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(kept, rejected) of a keyed frame whose `__first` names each key's first occurrence."""
        name = self.keep_column
        what = " as record " if name == "id" else " as "
        is_dup = pl.col(name) != pl.col("__first")
        detail = (pl.lit("same ") + pl.lit("/".join(self.params.fields)) + pl.lit(what)
                  + pl.col("__first"))
        kept, rejected = partition(
            f, pl.when(is_dup).then(pl.lit("exact_dedup.duplicate")), detail, row_wise=True
        )
        return kept.drop("__key", "__first"), rejected.drop("__key", "__first")

    def __call__(self, frame: pl.DataFrame):
        f = self.with_keys(frame)
        # the first row of each key (rows are in order of appearance) is the one kept
        return self.split(f.with_columns(
            pl.col(self.keep_column).first().over("__key").alias("__first")))

