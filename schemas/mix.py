"""The recipe's `mix:` section: target shares or counts per source (or per source tag) for the
final datasets. Checked against the recipe's sources in `schemas.recipe.Recipe`."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

KINDS = ("pairwise", "unary", "sft")


class MixParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: Literal["source", "tag"] = Field(
        "source", description="source: keys are source names (their `path`, or `hub:<id>`); "
        "tag: keys are the sources' `tag` values")
    shares: dict[str, float] = Field(
        default_factory=dict, description="target share of each dataset's rows per key "
        "(normalised to sum 1); every source (or tag) must be named")
    counts: dict[str, int] = Field(
        default_factory=dict, description="target rows per key; keys not named keep all rows")
    total: int | None = Field(
        None, ge=1, description="with shares: rows per dataset; default: as many as the "
        "smallest group allows without repeating (or, with upsample, the dataset's own size)")
    upsample: bool = Field(
        False, description="repeat rows (seeded) to reach a target above what a group has; "
        "off: the group keeps what it has and the report shows the shortfall")
    kinds: list[Literal["pairwise", "unary", "sft"]] = Field(
        default_factory=lambda: list(KINDS), description="datasets the mixture applies to")

    @model_validator(mode="after")
    def _check(self) -> "MixParams":
        if bool(self.shares) == bool(self.counts):
            raise ValueError("give exactly one of `shares` or `counts`")
        if any(v < 0 for v in self.shares.values()) or (
                self.shares and sum(self.shares.values()) <= 0):
            raise ValueError("shares must be ≥ 0 with a positive sum")
        if any(v < 0 for v in self.counts.values()):
            raise ValueError("counts must be ≥ 0")
        if self.total is not None and self.counts:
            raise ValueError("total applies to shares; counts already say how many rows")
        return self
