"""A few held-out prompts answered by the reference policy and by the trained one (greedy), so a
person sees what training did to the text, not only to the numbers."""
from __future__ import annotations

from datatools.train.scoring import reference


def _encode(tokenizer, prompt):
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt",
                                             return_dict=True)
    return tokenizer(prompt, return_tensors="pt")


def _generate(model, tokenizer, enc, max_new_tokens):
    import torch

    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)


def sample_generations(model, tokenizer, prompts, max_new_tokens: int = 48) -> list[dict]:
    """[{prompt, base, trained}] for `prompts` (strings or chat messages)."""
    was_training = model.training
    model.eval()
    samples = []
    for prompt in prompts:
        enc = _encode(tokenizer, prompt)
        with reference(model):
            base = _generate(model, tokenizer, enc, max_new_tokens)
        samples.append({"prompt": prompt if isinstance(prompt, str) else prompt[-1]["content"],
                        "base": base, "trained": _generate(model, tokenizer, enc, max_new_tokens)})
    model.train(was_training)
    return samples
