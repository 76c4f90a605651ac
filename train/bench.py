"""`datatools bench train`: our DPO settings vs TRL DPOTrainer's defaults, same model and data.

Model: randomly initialised, Qwen2.5-0.5B's shapes (hidden 896, 24 layers, 14 heads, 2 KV heads,
intermediate 4864, vocab 151936), built offline from a config. Data: synthetic pairs of realistic,
varied lengths (log-normal prompt ~250 and completion ~300 tokens) from a word-level tokenizer
(one word = one token, so lengths are exact). Both runs train the same LoRA (r32 α64 q,v).

  TRL defaults: fp32 weights + bf16 autocast, reference forward every step, random sampling.
  Ours:         the product's own path (train.methods.dpo.trainer from a Stage, as `datatools
                train` builds it): bf16 weights on CUDA, precompute_ref_log_probs (reference
                pass once, batched 4× via trainer_args), Liger layer kernels when
                `liger_kernel` is importable (never installed here).
Goal (issue 5): ≥ 1.5× tokens/s at ≤ 0.7× peak memory. `--tiny` is a CPU smoke run only.
"""
from __future__ import annotations

import gc
import importlib.util
import math
import random
import tempfile
import time
from pathlib import Path

from datatools.train.methods.common import checkpointing_arg

QWEN_05B = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                intermediate_size=4864, vocab_size=151936, max_position_embeddings=4096,
                tie_word_embeddings=True)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
            intermediate_size=128, vocab_size=2048, max_position_embeddings=512,
            tie_word_embeddings=True)


def synthetic_tokenizer(n_words: int, folder: Path):
    """A word-level tokenizer: words w0..wN, whitespace split, eos/pad specials."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, **{f"w{i}": i + 2 for i in range(n_words)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<eos>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")
    fast.save_pretrained(folder)
    return fast


def synthetic_pairs(n: int, n_words: int, prompt_len: int, completion_len: int, max_len: int, seed=0):
    """Standard-format pairs with log-normal lengths (σ 0.6) around the given medians."""
    rng = random.Random(seed)

    def text(median):
        k = max(4, min(max_len, int(rng.lognormvariate(math.log(median), 0.6))))
        return " ".join(f"w{rng.randrange(n_words)}" for _ in range(k))

    return [{"prompt": text(prompt_len), "chosen": " " + text(completion_len),
             "rejected": " " + text(completion_len)} for _ in range(n)]


def _model(shape: dict, dtype, device):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(**shape, pad_token_id=0, eos_token_id=1, bos_token_id=None)
    return Qwen2ForCausalLM(cfg).to(dtype=dtype, device=device)


def _run_one(name, ours: bool, shape, tok, pairs, steps, batch_size, max_length, out_dir, cuda):
    import datasets
    import torch
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    model = _model(shape, torch.bfloat16 if (ours and cuda) else torch.float32,
                   "cuda" if cuda else "cpu")
    ds = datasets.Dataset.from_list(pairs)
    args = dict(output_dir=str(out_dir / name), max_steps=steps, per_device_train_batch_size=batch_size,
                max_length=max_length, report_to="none", save_strategy="no", logging_steps=steps,
                learning_rate=5e-5, seed=0)
    if not cuda:  # CPU smoke run: the same CPU flags as common_args, for both
        args.update(use_cpu=True, bf16=False, dataloader_pin_memory=False,
                    **{checkpointing_arg(): False})
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    start = time.perf_counter()
    if ours:  # the product's own path: the stage → train.methods.dpo.trainer, as `datatools train`
        trainer = _product_trainer(model, tok, ds, steps, batch_size, max_length, out_dir / name,
                                   cuda)
        args = {k: getattr(trainer.args, k) for k in (
            "learning_rate", "per_device_train_batch_size", "max_length", "bf16", "loss_type",
            "beta", "precompute_ref_log_probs", "precompute_ref_batch_size", "use_liger_kernel")}
    else:
        peft = LoraConfig(r=32, lora_alpha=64, target_modules=["q_proj", "v_proj"],
                          task_type="CAUSAL_LM")
        trainer = DPOTrainer(model=model, args=DPOConfig(**args), train_dataset=ds,
                             processing_class=tok, peft_config=peft)
    setup = time.perf_counter() - start
    metrics = trainer.train().metrics
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    used = pairs[: steps * batch_size]
    tokens = sum(min(max_length, len(p["prompt"].split()) + len(p[s].split()) + 1)
                 for p in used for s in ("chosen", "rejected"))
    result = {"tokens": tokens, "wall_s": round(wall, 3), "setup_s": round(setup, 3),
              "train_runtime_s": metrics.get("train_runtime"),
              "tokens_per_s": round(tokens / wall, 1),
              "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
              "settings": {k: v for k, v in args.items() if k not in ("output_dir", "logging_steps")}}
    del trainer, model
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return result


def _product_trainer(model, tok, ds, steps, batch_size, max_length, out_dir, cuda):
    """`datatools train`'s DPO trainer for a stage with these sizes (LoRA r32 α64 q,v, as the
    baseline), plus the speed settings a user passes through `trainer_args`."""
    from datatools.schemas.train import LoraSettings, Stage
    from datatools.train.methods import dpo

    extra = {"precompute_ref_batch_size": 4 * batch_size, "logging_steps": steps}
    if cuda and importlib.util.find_spec("liger_kernel") is not None:
        extra["use_liger_kernel"] = True
    stage = Stage(method="dpo", max_steps=steps, batch_size=batch_size, max_length=max_length,
                  learning_rate=5e-5, lora=LoraSettings(r=32, alpha=64,
                                                        target_modules=["q_proj", "v_proj"]),
                  trainer_args=extra)
    return dpo.trainer(model, tok, ds, stage, out_dir, cpu=not cuda, seed=0, precompute_ref=True)


def run_bench(tiny: bool = False, steps: int = 20, batch_size: int = 4, n_pairs: int | None = None,
              prompt_len: int | None = None, completion_len: int | None = None,
              max_length: int | None = None) -> dict:
    import torch

    cuda = torch.cuda.is_available() and not tiny
    shape = TINY if tiny else QWEN_05B
    prompt_len = prompt_len or (24 if tiny else 250)
    completion_len = completion_len or (32 if tiny else 300)
    max_length = max_length or (128 if tiny else 1024)
    n_pairs = n_pairs or steps * batch_size
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tok = synthetic_tokenizer(min(4000, shape["vocab_size"] - 2), tmp / "tok")
        pairs = synthetic_pairs(n_pairs, len(tok) - 2, prompt_len, completion_len, max_length)
        runs = {name: _run_one(name, ours, shape, tok, pairs, steps, batch_size, max_length, tmp, cuda)
                for name, ours in (("trl_defaults", False), ("ours", True))}
    base, ours = runs["trl_defaults"], runs["ours"]
    out = {"device": torch.cuda.get_device_name() if cuda else "cpu", "model": "tiny" if tiny else
           "Qwen2.5-0.5B shapes (random init)", "steps": steps, "batch_size": batch_size,
           "n_pairs": n_pairs, "max_length": max_length, "runs": runs,
           "speedup_tokens_per_s": round(ours["tokens_per_s"] / base["tokens_per_s"], 3)}
    if cuda:
        out["memory_ratio"] = round(ours["peak_memory_gb"] / base["peak_memory_gb"], 3)
        out["goal_met"] = out["speedup_tokens_per_s"] >= 1.5 and out["memory_ratio"] <= 0.7
    return out
