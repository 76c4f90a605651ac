"""The recipe: sources → steps → outputs (→ train). `extra="forbid"` so a typo is an error.

Step params are validated against the step registry in `datatools.recipe`, which knows the
steps; this module stays free of I/O and of the registry.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datatools.schemas.mix import MixParams
from datatools.schemas.publish import PushParams
from datatools.schemas.loop import LoopSection
from datatools.schemas.train import TrainSection

Format = Literal[
    "auto", "trl", "swift", "sharegpt", "alpaca", "llamafactory", "hh_rlhf", "ultrafeedback",
    "preference_label",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(Strict):
    """One input: a local file / folder (`path`) or a Hub dataset (`hub`)."""

    path: str | None = None
    hub: str | None = None
    split: str = "train"
    config: str | None = Field(None, description="Hub dataset config (subset) name")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit)")
    format: Format = "auto"
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Rename source columns before detection: {source_name: expected_name}",
    )
    limit: int | None = Field(None, ge=1, description="Read at most this many records")
    weight: float | None = Field(
        None, ge=0, description="relative share of this source in the final datasets "
        "(shorthand for mix: {shares: ...}); give every source one, or none")
    tag: str | None = Field(None, min_length=1, description="group name for `mix: {by: tag}`")

    @model_validator(mode="after")
    def _one_location(self) -> "Source":
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of `path` or `hub`")
        return self

    @property
    def name(self) -> str:
        return self.path or f"hub:{self.hub}"


class PairwiseParams(Strict):
    """chosen = best-scored candidate; rejected = worst, or a random strictly lower one."""

    rejected: Literal["worst", "random_lower"] = "worst"
    min_margin: float = Field(0.0, ge=0, description="drop pairs whose score gap is below this")
    min_chosen_score: float | None = Field(None, description="drop prompts whose best is below")


class UnaryParams(Strict):
    """KTO data: desirable / undesirable completions, labels interleaved, weights per Eq. 8."""

    mode: Literal["scores", "pairs"] = Field(
        "scores",
        description="scores: label each candidate by `threshold` (or its own label); "
        "pairs: chosen → desirable, rejected → undesirable",
    )
    threshold: float | None = Field(
        None, description="score ≥ threshold is desirable; default: the record's best is "
        "desirable and its worst undesirable"
    )
    balance: Literal["weights", "downsample"] = Field(
        "weights", description="weights: keep all rows and set λ_D/λ_U; downsample: also "
        "drop surplus rows of the larger class (seeded) before weighting"
    )


class SFTParams(Strict):
    source: Literal["best", "chosen"] = Field(
        "best", description="best: top-scored candidate per prompt; chosen: the pairwise chosen"
    )
    min_score: float | None = Field(None, description="drop prompts whose best is below this")
    format: Literal["messages", "prompt_completion"] = "messages"


class PromptsParams(Strict):
    """Prompt-only rows for GRPO / on-policy loops: prompt, answer, constraints
    (OUT/prompts/train.parquet; records marked meta.split = held_out in test.parquet)."""

    answer_key: str | None = Field("answer", description="meta key of the reference answer")
    constraints_key: str | None = Field(
        "constraints", description="meta key of the constraint spec (any shape the verifiers "
        "read; IFEval's own instruction_id_list + kwargs columns are read when it is absent)")
    require_checks: bool = Field(
        True, description="drop records with no answer and no constraints (build.prompts."
        "unverifiable): a verifier reward cannot score them")


class Outputs(Strict):
    dir: str = Field(..., description="output folder; relative paths resolve from the recipe")
    pairwise: PairwiseParams | None = None
    unary: UnaryParams | None = None
    sft: SFTParams | None = None
    prompts: PromptsParams | None = Field(
        None, description="prompt-only rows with answer + constraints (GRPO, `datatools loop`); "
        "held-out records go to prompts/test.parquet")
    push: PushParams | None = Field(None, description="push the datasets to the Hub after a build")
    candidates: Literal["full", "scores", "none"] = Field(
        "full", description="OUT/candidates/, the final judged candidate frame: full (every "
        "column), scores (every column but the texts prompt / completion / meta: what the "
        "report plots, a fraction of the size) or none")
    report_html: bool = Field(True, description="write OUT/report.html (`datatools report OUT` "
                              "makes it later)")


Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]  # NaN would pass every gate


class Gates(Strict):
    """Quality gates: stop a build whose output would be garbage."""

    max_drop_rate: Fraction | dict[str, Fraction] | None = Field(
        None, description="max fraction of rows a step may reject; one number for every step "
        "or {step_name: fraction}"
    )
    min_rows: int = Field(0, ge=0, description="fail if the final frame has fewer rows")


class ActorSpec(Strict):
    """How the `ray` executor runs one row/record step as a pool of actors (one step instance,
    and so one loaded model, per actor), e.g. one vLLM replica per GPU."""

    replicas: int = Field(1, ge=1, description="actors running the step side by side "
                          "(data-parallel replicas)")
    num_gpus: float = Field(0, ge=0, description="GPUs reserved per actor (1 for a vLLM "
                            "replica per GPU; tensor-parallel engines need engine_args too)")
    num_cpus: float = Field(1, gt=0, description="CPUs reserved per actor")


class ExecutorSpec(Strict):
    """Where the steps run: `local` (in this process, in memory) or `ray` (Ray Data blocks)."""

    kind: Literal["local", "ray"] = "local"
    address: str = Field(
        "local", description="ray: `local` starts a Ray instance in this process; `auto` joins "
        "the cluster `ray start` made on this machine; or `ray://HOST:PORT`")
    num_cpus: int | None = Field(
        None, ge=1, description="ray with address local: CPUs the local instance may use "
        "(default: all)")
    block_rows: int = Field(
        50_000, ge=1, description="ray: rows per block (a block holds whole records)")
    read_tasks: bool = Field(
        True, description="ray: a plain JSONL file of 64 MiB or more is read by Ray tasks, "
        "one per 64 MiB byte range, and a parquet file, saved dataset or Hub dataset of 100k "
        "rows or more one task per 50k rows, on the cluster's CPUs (a file must be at the same "
        "path on every node); off: the driver parses every source")
    partitions: int | None = Field(
        None, ge=1, description="ray: hash partitions of the dedup shuffles (default: the "
        "cluster's CPUs)")
    object_store_mb: int | None = Field(
        None, ge=64, description="ray with address local: object store size in MiB (default: "
        "Ray's, ~30% of memory); blocks beyond it spill to temp_dir")
    temp_dir: str | None = Field(
        None, description="ray with address local: Ray's session folder (spilled objects too)")
    lineage_pinning: bool = Field(
        False, description="ray with address local: keep each block's input blocks while the "
        "block lives, so a lost block can be recomputed (Ray's default; a node failure then "
        "need not fail the build). Off here: on one machine nothing is lost, and pinned inputs "
        "held every step's blocks at once (1M records: 8.7 GB spilled on, 5.1 GB off)")
    actors: dict[str, ActorSpec] = Field(
        default_factory=dict, description="ray: steps (by name) to run as actor pools, e.g. "
        "{generate: {replicas: 8, num_gpus: 1}}; steps that load a model (generate, LLM "
        "judges, reward_model, toxicity) run as one CPU actor unless named here")


class Recipe(Strict):
    name: str = Field(..., min_length=1)
    seed: int = 0
    sources: list[Source] = Field(..., min_length=1)
    steps: list[dict[str, dict[str, Any] | None]] = Field(
        default_factory=list, description="in order; each item is {step_name: {params}}"
    )
    outputs: Outputs
    gates: Gates = Field(default_factory=Gates)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    train: TrainSection | None = Field(None, description="LoRA training on what was built")
    loop: LoopSection | None = Field(None, description="on-policy rounds (`datatools loop`)")
    mix: MixParams | None = Field(
        None, description="target shares or counts per source or tag in the final datasets")

    @model_validator(mode="after")
    def _mix_names_sources(self) -> "Recipe":
        check_mix(self.mix, self.sources)
        return self

    def mixture(self) -> MixParams | None:
        """The mixture to apply: the `mix` section, or the one `sources[].weight` spells."""
        return check_mix(self.mix, self.sources)


def check_mix(mix: MixParams | None, sources: list[Source]) -> MixParams | None:
    """`sources[].weight` → a mix by source; every key names a source (or a tag in use)."""
    weighted = [s for s in sources if s.weight is not None]
    if weighted:
        if mix is not None:
            raise ValueError("mix: give either sources[].weight or a mix section, not both")
        if len(weighted) != len(sources):
            missing = ", ".join(s.name for s in sources if s.weight is None)
            raise ValueError(f"sources[].weight: give every source a weight (missing: {missing})")
        mix = MixParams(shares={s.name: s.weight for s in sources})
    if mix is None:
        return None
    if mix.by == "tag":
        untagged = [s.name for s in sources if s.tag is None]
        if untagged:
            raise ValueError(f"mix.by tag: every source needs a tag (missing: "
                             f"{', '.join(untagged)})")
    known = {s.tag if mix.by == "tag" else s.name for s in sources}
    keys = set(mix.shares or mix.counts)
    unknown = sorted(keys - known)
    if unknown:
        raise ValueError(f"mix: {', '.join(unknown)} name no {mix.by}; known: "
                         f"{', '.join(sorted(known))}")
    if mix.shares and known - keys:
        raise ValueError(f"mix.shares: give every {mix.by} a share (missing: "
                         f"{', '.join(sorted(known - keys))})")
    return mix
