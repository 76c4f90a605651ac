"""Generate answers to prompts with a (LoRA) model and score them with the verifiers: the
evaluation GRPO, `datatools loop` and `datatools bench loop` share.

Greedy decoding (do_sample=False), so two evaluations of one model on one prompt set give the
same answers and a difference in pass rate comes from the weights, not from sampling.
"""
from __future__ import annotations

import json
from collections import defaultdict


def chat_texts(tokenizer, prompts: list[list[dict]]) -> list[str]:
    return [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in prompts]


def generate(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int = 128,
             batch_size: int = 16, sample: bool = False, temperature: float = 1.0,
             num_return_sequences: int = 1, seed: int = 0) -> list[list[str]]:
    """For each prompt (chat messages), `num_return_sequences` answers (greedy by default)."""
    import torch

    torch.manual_seed(seed)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only generation continues from the right edge
    out: list[list[str]] = []
    try:
        model.eval()
        texts = chat_texts(tokenizer, prompts)
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(model.device)
            kwargs = dict(do_sample=True, temperature=temperature, top_p=1.0) if sample else \
                dict(do_sample=False, temperature=None, top_p=None, top_k=None)
            with torch.no_grad():
                ids = model.generate(**enc, max_new_tokens=max_new_tokens,
                                     num_return_sequences=num_return_sequences,
                                     pad_token_id=tokenizer.pad_token_id, **kwargs)
            answers = tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:],
                                             skip_special_tokens=True)
            for j in range(0, len(answers), num_return_sequences):
                out.append([a.strip() for a in answers[j:j + num_return_sequences]])
    finally:
        tokenizer.padding_side = side
    return out


def score_rows(answers: list[str], rows: list[dict], scoring: str = "all") -> list[dict]:
    """Per answer: passed (every check holds), score, per-check results, words."""
    from datatools.verifiers import score_completion
    from datatools.verifiers.text import count_words

    scored = []
    for text, row in zip(answers, rows):
        verdict = score_completion(text, row.get("answer"), row.get("constraints"))
        scored.append({"passed": bool(verdict.all_passed), "score": verdict.score,
                       "checks": {k: ok for k, (ok, _) in verdict.results.items()},
                       "words": count_words(text)})
    return scored


def summarise(scored: list[dict]) -> dict:
    """Pass rate (all checks), mean score, pass rate per constraint type, mean length."""
    per_type: dict[str, list[bool]] = defaultdict(list)
    for s in scored:
        for name, ok in s["checks"].items():
            per_type[name].append(ok)
    n = max(len(scored), 1)
    return {"n": len(scored), "pass_rate": sum(s["passed"] for s in scored) / n,
            "mean_score": sum(s["score"] or 0 for s in scored) / n,
            "mean_words": sum(s["words"] for s in scored) / n,
            "per_type": {k: {"n": len(v), "pass_rate": sum(v) / len(v)}
                         for k, v in sorted(per_type.items())}}


def evaluate_prompts(model, tokenizer, rows: list[dict], max_new_tokens: int = 128,
                     batch_size: int = 16) -> tuple[dict, list[dict]]:
    """(summary, per-row records with the answer) of greedy answers to `rows`' prompts."""
    answers = [a[0] for a in generate(model, tokenizer, [r["prompt"] for r in rows],
                                      max_new_tokens, batch_size)]
    scored = score_rows(answers, rows)
    records = [{"id": r.get("id"), "answer": a, **s} for r, a, s in zip(rows, answers, scored)]
    return summarise(scored), records


def write_records(records: list[dict], path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
