"""SFT: next-token loss on the answer only (assistant turns or the completion), never the prompt."""
from __future__ import annotations

from train.methods.base import Method
from train.methods.common import common_args, keep_columns, peft_for

COLUMNS = ("messages", "prompt", "completion")


def trainer(model, tokenizer, train_ds, stage, out_dir, cpu=False, seed=0):
    """SFT with the loss on assistant tokens only (chat template `{% generation %}` markers)."""
    from trl import SFTConfig, SFTTrainer

    conversational = "messages" in train_ds.column_names
    args = SFTConfig(**common_args(stage, out_dir, cpu, seed), assistant_only_loss=conversational)
    return SFTTrainer(model=model, args=args, train_dataset=keep_columns(train_ds, COLUMNS),
                      processing_class=tokenizer, peft_config=peft_for(model, stage))


def pieces(row):
    """(side, prompt, completion) to pre-flight: the conversation up to its last assistant turn."""
    if row.get("messages") is not None:
        msgs = list(row["messages"])
        last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=len(msgs))
        return [("", msgs[:last], msgs[last:])]
    return [("", row["prompt"], row["completion"])]


def _config_class():
    from trl import SFTConfig

    return SFTConfig


METHOD = Method(
    name="sft", kind="sft", columns=COLUMNS, required=(("messages",), ("prompt", "completion")),
    defaults={"learning_rate": 2e-4, "epochs": 1.0, "batch_size": 8, "max_length": 1024},
    trainer=trainer, config_class=_config_class, pieces=pieces,
)
