"""Tiny models built offline, so tests exercise real transformers / TRL / vLLM code paths.

A byte-level BPE tokenizer trained on a few hundred lines, with a ChatML-like chat template that
carries `{% generation %}` markers (so `return_assistant_tokens_mask` works), and a randomly
initialised Llama (hidden 64, 2 layers, 2 heads → head_dim 32, which vLLM's CPU build needs).
"""
from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]


def _corpus() -> list[str]:
    words = ("the a an is are was what how why when who which answer question yes no good bad "
             "number one two three four five six seven eight nine ten plus minus equals sum "
             "please write explain list short long sentence word words json true false ok sure "
             "hello thanks cat dog python code math final result because so and or not it this "
             "that with for of to in on at by from as be can will do does done i you we they").split()
    lines = []
    for i in range(400):
        chunk = [words[(i * 7 + j * 13) % len(words)] for j in range(12)]
        lines.append(" ".join(chunk) + f" {i} {i * 3 % 97}.")
    lines += ["0123456789 + - * / = ( ) { } [ ] : ; , . ! ? \" ' #### \\boxed"] * 5
    lines += ["是 好的 明白了 你好 谢谢 问题 回答"] * 5
    return lines


def build_tokenizer(out_dir: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<pad>",
        bos_token=None, unk_token=None, additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def build_tiny_chat_model(out_dir: Path, seed: int = 0, initializer_range: float = 0.02) -> Path:
    """Tokenizer + random tiny Llama saved to `out_dir`; loads offline with Auto* classes.

    With the default init the logits are nearly flat and stay so under LoRA (the final RMSNorm
    fixes the hidden norm, the tied embeddings bound the logits); a larger `initializer_range`
    gives a peaked policy whose sampling an adapter can reshape in a few steps (GRPO tests)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(out_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None,
        tie_word_embeddings=True, initializer_range=initializer_range,
    )
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, max_new_tokens=32,
    )
    model.save_pretrained(out_dir)
    return out_dir


def build_tiny_reward_model(out_dir: Path, seed: int = 0) -> Path:
    """Tokenizer + random tiny LlamaForSequenceClassification (one logit: a reward model)."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(out_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=512, num_labels=1,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    LlamaForSequenceClassification(config).save_pretrained(out_dir)
    return out_dir
