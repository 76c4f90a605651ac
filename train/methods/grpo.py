"""GRPO (Shao et al. 2024, DeepSeekMath §4.1) with verifiable rewards: TÜLU 3's RLVR stage.

Each prompt gets G sampled completions; the project's verifiers score them
(`datatools.verifiers.rewards`: the math final answer and the instruction constraints, the
same `score_completion` as the `verifiable` step), and a completion's advantage is its reward
minus the group mean, over the group's std (TRL's `scale_rewards="group"`, GRPO Eq. 3's Â).
The loss is TRL's; `loss_type: dapo` (default) normalises by the tokens of the whole batch,
which removes GRPO's length bias (Yu et al. 2025, DAPO §3.3). KL to the reference: `kl_beta`
(TRL's β, default 0: no reference model, as in DAPO / Dr. GRPO).

Generation: transformers `generate` (CPU or GPU), or vLLM (`generation: vllm_colocate` in
the trainer's process, `vllm_server` for a `trl vllm-serve` server) on GPUs; the vLLM options
are passed to GRPOConfig as given and are not exercised by the CPU test suite.
Logged per step (OUTDIR/log_history.jsonl, trainer_state.json): `rewards/verifier_answer/mean`,
`rewards/verifier_constraints/mean`, `pass_rate/<constraint type>`, `completions/mean_length`.
"""
from __future__ import annotations

from datatools.schemas.errors import ConfigError, Problem
from datatools.train.defaults import PREFERENCE_LR, stage_value
from datatools.train.methods.base import Method
from datatools.train.methods.common import common_args, keep_columns, peft_for

COLUMNS = ("prompt", "answer", "constraints")


def settings(stage):
    from datatools.schemas.train import GRPOSettings

    return stage.grpo or GRPOSettings()


def grpo_args(stage) -> dict:
    """GRPOConfig arguments from the stage's `grpo:` settings (defaults: GRPOSettings)."""
    g = settings(stage)
    batch = stage_value(stage, "batch_size") * stage_value(stage, "grad_accum")
    if batch % g.num_generations:
        raise ConfigError(Problem("train.grpo.num_generations", f"{g.num_generations} does not "
                                  f"divide the batch (batch_size × grad_accum = {batch}): each "
                                  "step must hold whole groups of completions"))
    args = dict(num_generations=g.num_generations, max_completion_length=g.max_completion_length,
                temperature=g.temperature, beta=g.kl_beta, loss_type=g.loss_type,
                scale_rewards=g.scale_rewards, log_completions=False,
                steps_per_generation=g.steps_per_generation)
    if g.generation != "transformers":
        args.update(use_vllm=True, vllm_mode=g.generation.removeprefix("vllm_"),
                    vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
                    vllm_tensor_parallel_size=g.vllm_tensor_parallel_size)
        if g.vllm_server_base_url:
            args["vllm_server_base_url"] = g.vllm_server_base_url
    return args


def stage_checks(stage, where: str) -> list:
    """Before any model loads: the rollout groups fit the batch."""
    try:
        grpo_args(stage)
    except ConfigError as err:
        return [Problem(f"{where}.grpo.num_generations", p.message) for p in err.problems]
    return []


def trainer(model, tokenizer, train_ds, stage, out_dir, cpu=False, seed=0):
    from trl import GRPOConfig, GRPOTrainer

    from datatools.verifiers.rewards import make_reward_functions

    base = common_args(stage, out_dir, cpu, seed, model)
    base.pop("max_length")  # GRPO bounds the completion (max_completion_length), not the pair
    if "logging_steps" not in (stage.trainer_args or {}):
        base["logging_steps"] = 1  # rewards and pass rates of every step
    args = GRPOConfig(**base, **grpo_args(stage))
    for column in ("answer", "constraints"):  # rows without the column get no such reward
        if column not in train_ds.column_names:
            train_ds = train_ds.add_column(column, [None] * len(train_ds))
    grpo = GRPOTrainer(model=model, reward_funcs=make_reward_functions(scoring=settings(stage).scoring),
                       args=args, train_dataset=keep_columns(train_ds, COLUMNS),
                       processing_class=tokenizer, peft_config=peft_for(model, stage))
    grpo.add_callback(_log_writer(out_dir))
    return grpo


def _log_writer(out_dir):
    """A callback appending each logged step (rewards per verifier, pass rate per constraint
    type, completion lengths) to OUTDIR/log_history.jsonl as it happens."""
    import json
    from pathlib import Path

    from transformers import TrainerCallback

    path = Path(out_dir) / "log_history.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")

    class LogWriter(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero:
                with path.open("a") as f:
                    f.write(json.dumps({"step": state.global_step, **(logs or {})}) + "\n")

    return LogWriter()


def evaluate(model, tokenizer, held_out, train_ds, stage, out_dir, flag_threshold=0.0):
    """Greedy answers to the held-out prompts, verified: pass rate with the reference policy
    (adapter off: the starting point) and with the trained adapter, per constraint type."""
    from pathlib import Path

    from datatools.train.scoring import reference
    from datatools.train.verified import evaluate_prompts, write_records

    rows = [dict(r) for r in held_out]
    max_tokens = settings(stage).max_completion_length
    with reference(model):
        before, _ = evaluate_prompts(model, tokenizer, rows, max_tokens)
    after, records = evaluate_prompts(model, tokenizer, rows, max_tokens)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_records(records, Path(out_dir) / "eval_answers.jsonl")
    return {"reference": before, "trained": after}


def _config_class():
    from trl import GRPOConfig

    return GRPOConfig


METHOD = Method(
    name="grpo", kind="prompts", columns=COLUMNS, required=(("prompt",),),
    defaults={"learning_rate": PREFERENCE_LR, "epochs": 1.0, "batch_size": 8,
              "max_length": 1024},
    trainer=trainer, config_class=_config_class, evaluate=evaluate, stage_checks=stage_checks,
)
