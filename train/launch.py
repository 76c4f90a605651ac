"""Multi-process training: `datatools train ... --launch accelerate --num-processes N`.

The same `train` command is re-run under `accelerate launch` (one process per device; on CPU,
N processes joined by gloo): TRL's trainers then run data-parallel (DDP) by themselves, each
process taking its share of every global batch (global batch = per-device batch × N ×
grad_accum). Only the main process writes the adapter and the report. DeepSpeed ZeRO and FSDP
are accelerate configs (recipes/accelerate/*.yaml) passed with `--accelerate-config`.
"""
from __future__ import annotations

import os
import sys

LAUNCHERS = ("accelerate",)


def is_main_process() -> bool:
    """True outside a launcher and on rank 0 inside one (accelerate sets RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


def accelerate_command(train_args: list[str], num_processes: int,
                       config_file: str | None = None) -> list[str]:
    """`accelerate launch` of `python -m datatools.train train <train_args>`.

    Several processes without a config use accelerate's torchrun launcher (`--multi_gpu`);
    with the train command's own `--cpu` the processes then join by gloo (MULTI_CPU).
    accelerate's `--cpu` flag would start a single process (its multi-CPU path is mpirun)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if config_file:
        cmd += ["--config_file", config_file]
    cmd += ["--num_processes", str(num_processes), "--num_machines", "1",
            "--main_process_port", str(free_port())]
    if not config_file and num_processes > 1:
        cmd += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return cmd + ["-m", "datatools.train", "train", *train_args]


def free_port() -> int:
    """A free loopback port for the processes' rendezvous (29500, the default, may be taken)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strip_launch_options(argv: list[str]) -> list[str]:
    """The train command's own arguments: argv without the launch options (and values)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in ("--launch", "--num-processes", "--accelerate-config"):
            skip = "=" not in a
            continue
        out.append(a)
    return out
