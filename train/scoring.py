"""Log-probabilities of completions under a model, tokenized and truncated as TRL does, and the
reference policy of a PEFT model. Shared by evaluation, mislabel flags and the SFT held-out loss."""
from __future__ import annotations

import contextlib

from datatools.train.preflight import tokenize_prompt_completion


def completion_logps(model, tokenizer, prompts, completions, max_length=None, batch_size=8):
    """(sum of log π(completion tokens | prompt), number of completion tokens) per row."""
    import torch

    rows = []
    for prompt, completion in zip(prompts, completions):
        p, full = tokenize_prompt_completion(tokenizer, prompt, completion)
        n_prompt = next((i for i, (a, b) in enumerate(zip(p, full)) if a != b), min(len(p), len(full)))
        full = full[:max_length] if max_length else full
        rows.append((full, min(n_prompt, len(full))))
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    sums, counts = [], []
    was_training = model.training
    model.eval()
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        attn = torch.zeros_like(ids)
        mask = torch.zeros_like(ids, dtype=torch.bool)
        for i, (seq, n_prompt) in enumerate(chunk):
            ids[i, :len(seq)] = torch.tensor(seq)
            attn[i, :len(seq)] = 1
            mask[i, n_prompt:len(seq)] = True
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=attn.to(device)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tok = logp.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
        target = mask[:, 1:].to(device)
        sums += (tok * target).sum(-1).tolist()
        counts += target.sum(-1).tolist()
    model.train(was_training)
    return sums, counts


def sequence_logps(model, tokenizer, prompts, completions, max_length=None, batch_size=8):
    """Sum of log π(completion tokens | prompt) per row."""
    return completion_logps(model, tokenizer, prompts, completions, max_length, batch_size)[0]


@contextlib.contextmanager
def reference(model):
    """The reference policy of a PEFT model: its frozen "ref" adapter when it continues from one,
    else the base model with the adapter disabled."""
    if "ref" in getattr(model, "peft_config", {}):
        active = model.active_adapter
        model.set_adapter("ref")
        try:
            yield
        finally:
            model.set_adapter(active)
    else:
        with model.disable_adapter():
            yield
