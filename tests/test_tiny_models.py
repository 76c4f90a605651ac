def test_tiny_model_loads_offline_and_generates(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = tok.apply_chat_template([{"role": "user", "content": "what is two plus two"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5 or out[0, -1] == tok.eos_token_id
    mask = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        return_assistant_tokens_mask=True, return_dict=True)["assistant_masks"]
    assert 0 < sum(mask) < len(mask)  # generation markers let TRL train on assistant tokens only
