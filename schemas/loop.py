"""The recipe's `loop:` section: on-policy rounds of generate → verify → build → train →
evaluate (`datatools loop`)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from datatools.schemas.train import StageFields

LoopMethod = Literal["dpo", "kto", "grpo"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoopSampling(_Strict):
    """How each round samples the training prompts from the current policy (the `generate`
    step's transformers or vLLM backend, with the round's adapter)."""

    backend: Literal["transformers", "vllm"] = Field(
        "transformers", description="transformers (CPU or GPU, adapter via PEFT) or vllm "
        "(GPU, adapter via LoRARequest)")
    n: int = Field(4, ge=2, description="samples per training prompt per round")
    temperature: float = Field(0.8, gt=0, description="sampling temperature")
    max_tokens: int = Field(128, ge=1, description="max new tokens per sample")
    batch_size: int = Field(16, ge=1, description="transformers: prompts per generate() call")
    engine_args: dict[str, Any] = Field(default_factory=dict, description="vllm.LLM arguments")


class LoopSection(_Strict):
    """`loop:` — on-policy rounds. Round k samples from round k-1's adapter (the base, or
    `adapter`, in round 1), scores the samples with the verifiers, builds pairs (dpo) or
    labelled answers (kto), or trains on the prompts directly (grpo), continues training that
    adapter (so its reference is the policy that generated the round's data), and evaluates
    greedy answers to the held-out prompts."""

    model: str = Field(..., min_length=1, description="base model: local folder or Hub id")
    prompts: str | None = Field(
        None, description="a prompts folder (train.parquet, test.parquet) as `outputs.prompts` "
        "writes it; default: this recipe's OUT/prompts (built first when missing)")
    method: LoopMethod = "dpo"
    methods: list[LoopMethod] | None = Field(
        None, description="one method per round (overrides `method`; the last repeats), "
        "e.g. [dpo, dpo, grpo]")
    rounds: int = Field(2, ge=1, le=100, description="default rounds (`--rounds` overrides)")
    adapter: str | None = Field(None, description="adapter to start from (default: the base)")
    output_dir: str = Field("loop", description="rounds go to OUTPUT_DIR/round-<k>/")
    sampling: LoopSampling = Field(default_factory=LoopSampling)
    train: StageFields = Field(default_factory=StageFields,
                               description="hyperparameters of every round's training")
    per_method: dict[LoopMethod, StageFields] = Field(
        default_factory=dict, description="overrides of `train` for one method, e.g. "
        "{grpo: {learning_rate: 1e-4}}")
    judges: list[dict[str, dict[str, Any]]] = Field(
        default_factory=list, description="more judge steps run on the same samples after "
        "`verifiable`, e.g. [{reward_model: {..., set_score: false}}]; each one's agreement with "
        "the verifier (per pair of a prompt's answers, Cohen's κ) is in the round's report. "
        "With set_score: true a judge's score, not the verifier's, builds the pairs")
    preference_pairs: bool = Field(
        True, description="each round also samples the held-out prompts with the round's "
        "starting policy and judges them into pairs (never trained on), to report the trained "
        "policy's implicit-reward preference on them (costs sampling.n answers per held-out "
        "prompt per round)")
    eval_max_tokens: int = Field(128, ge=1, description="max new tokens of held-out answers")
    min_margin: float = Field(0.0, ge=0, description="dpo: drop pairs whose score gap is below")
    cpu: bool = Field(False, description="force CPU")
    seed: int | None = Field(None, description="default: the recipe's seed")

    def method_of(self, k: int) -> str:
        """The method of round k (1-based)."""
        if self.methods:
            return self.methods[min(k, len(self.methods)) - 1]
        return self.method
