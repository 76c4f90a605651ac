"""Checks of a `train:` section that need the installed libraries (TRL's config classes, CUDA),
run before any data is read or model loaded, every problem listed at once."""
from __future__ import annotations

from datatools.schemas.errors import ConfigError, Problem

# Set from the stage's own fields; a `trainer_args` entry for one of them is a second, silent way
# to say the same thing, so it is refused with the field to use instead.
MANAGED = {"learning_rate": "learning_rate", "num_train_epochs": "epochs", "max_steps": "max_steps",
           "per_device_train_batch_size": "batch_size", "gradient_accumulation_steps": "grad_accum",
           "max_length": "max_length", "beta": "beta", "loss_type": "loss_type",
           "report_to": "report_to", "save_steps": "save_steps", "output_dir": "output_dir",
           "seed": "seed", "desirable_weight": "desirable_weight",
           "undesirable_weight": "undesirable_weight", "label_smoothing": "label_smoothing"}


def trainer_args_problems(stage, where: str) -> list[Problem]:
    from datatools.train.methods import get_method

    if not stage.trainer_args:
        return []
    config = get_method(stage.method).config_class()
    fields = config.__dataclass_fields__
    problems = []
    for key in stage.trainer_args:
        if key in MANAGED:
            problems.append(Problem(f"{where}.trainer_args.{key}", f"set `{MANAGED[key]}` instead "
                                    "(the trainer manages this field)"))
        elif key not in fields:
            near = sorted(f for f in fields if key.split("_")[0] in f)[:5]
            problems.append(Problem(f"{where}.trainer_args.{key}", f"not a field of "
                                    f"{config.__name__}" + (f"; similar: {', '.join(near)}"
                                                             if near else "")))
    return problems


def quantization_problems(section) -> list[Problem]:
    if section.quantization != "4bit":
        return []
    import importlib.util

    import torch

    if section.cpu or not torch.cuda.is_available():
        return [Problem("train.quantization", "4bit (QLoRA, bitsandbytes NF4) needs a CUDA GPU; "
                        "this run is on the CPU — remove `quantization: 4bit` or run on a GPU")]
    if importlib.util.find_spec("bitsandbytes") is None:
        return [Problem("train.quantization", "4bit needs bitsandbytes: pip install bitsandbytes")]
    return []


def check_section(section) -> None:
    """Raise ConfigError listing every problem of the section's stages."""
    from datatools.train.methods import get_method

    problems = quantization_problems(section)
    for i, stage in enumerate(section.resolved_stages()):
        where = f"train.stages[{i}]" if section.stages else "train"
        problems += trainer_args_problems(stage, where)
        problems += get_method(stage.method).stage_checks(stage, where)
    if problems:
        raise ConfigError(problems)
