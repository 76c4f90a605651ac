"""SFT: next-token loss on the answer only (assistant turns or the completion), never the prompt.

Which tokens carry the loss depends on the chat template:
  - `{% generation %}` markers in the template → TRL's assistant-only loss on `messages` (every
    assistant turn, via the template's assistant-token mask);
  - no markers (most released templates, e.g. SmolLM2's, Qwen's) → each conversation becomes one
    prompt–completion row per assistant turn (the history before the turn → the turn), trained
    with TRL's completion-only loss: every assistant turn is learnt, no prompt token is;
  - prompt–completion data → completion-only loss as given.
The run logs and reports which one was used (`sft_masking` in eval.json).
"""
from __future__ import annotations

import logging
import re

from datatools.train.defaults import SFT_LR
from datatools.train.methods.base import Method
from datatools.train.methods.common import common_args, keep_columns, peft_for

COLUMNS = ("messages", "prompt", "completion")
log = logging.getLogger("datatools.train")
_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


def has_generation_markers(tokenizer) -> bool:
    return bool(_GENERATION.search(tokenizer.chat_template or ""))


def per_turn_rows(messages) -> list[dict]:
    """One {prompt, completion} per assistant turn: the conversation before it → that turn."""
    msgs = list(messages)
    return [{"prompt": msgs[:k], "completion": [msgs[k]]}
            for k, m in enumerate(msgs) if m["role"] == "assistant" and k > 0]


def prepare(train_ds, data, stage, tokenizer):
    """Choose the loss masking for this tokenizer's chat template (see the module docstring)."""
    import datasets

    if "messages" not in train_ds.column_names:
        masking = "completion-only (prompt–completion data)"
    elif has_generation_markers(tokenizer):
        masking = "assistant-only ({% generation %} markers in the chat template)"
    else:
        rows = [row for r in train_ds for row in per_turn_rows(r["messages"])]
        train_ds = datasets.Dataset.from_list(rows)
        masking = ("completion-only, one prompt–completion row per assistant turn (the chat "
                   "template has no {% generation %} markers)")
    log.warning("SFT loss masking: %s", masking)
    return train_ds, {}, {"sft_masking": masking, "n_sft_rows": len(train_ds)}


def trainer(model, tokenizer, train_ds, stage, out_dir, cpu=False, seed=0):
    from trl import SFTConfig, SFTTrainer

    conversational = "messages" in train_ds.column_names
    args = SFTConfig(**common_args(stage, out_dir, cpu, seed, model), assistant_only_loss=conversational,
                     completion_only_loss=None if conversational else True)
    return SFTTrainer(model=model, args=args, train_dataset=keep_columns(train_ds, COLUMNS),
                      processing_class=tokenizer, peft_config=peft_for(model, stage))


def pieces(row):
    """(side, prompt, completion) to pre-flight: the conversation up to its last assistant turn."""
    if row.get("messages") is not None:
        msgs = list(row["messages"])
        last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=len(msgs))
        return [("", msgs[:last], msgs[last:])]
    return [("", row["prompt"], row["completion"])]


def evaluate(model, tokenizer, held_out, train_ds, stage, out_dir, flag_threshold=0.0):
    """Held-out loss and perplexity on the answers, base vs trained."""
    from datatools.train.defaults import stage_value
    from datatools.train.evaluate import evaluate_sft

    return evaluate_sft(model, tokenizer, list(held_out), out_dir, stage_value(stage, "max_length"))


def _config_class():
    from trl import SFTConfig

    return SFTConfig


METHOD = Method(
    name="sft", kind="sft", columns=COLUMNS, required=(("messages",), ("prompt", "completion")),
    defaults={"learning_rate": SFT_LR, "epochs": 1.0, "batch_size": 8, "max_length": 1024},
    trainer=trainer, config_class=_config_class, evaluate=evaluate, prepare=prepare,
    pieces=pieces,
)
