"""decontaminate: prompts overlapping an eval set are dropped, naming the eval item."""
import json

import pytest

from datatools.filters.decontaminate import Decontaminate, DecontaminateParams
from datatools.frame import frame_from_rows, rows_from_record
from datatools.step import StepContext
from tests.conftest import SHARED_DATA

MTB = SHARED_DATA / "mt-bench" / "question.jsonl"


def frame(prompts):
    rows = []
    for rid, p in prompts.items():
        rows += rows_from_record(rid, "t", [{"role": "user", "content": p}], [{"content": "a"}, {"content": "b"}])
    return frame_from_rows(rows)


@pytest.mark.skipif(not MTB.exists(), reason="shared data absent (../shared/data/mt-bench)")
@pytest.mark.parametrize("method", ["ngram", "minhash"])
def test_mt_bench_hits_name_the_item(method):
    q = [json.loads(line) for line in MTB.read_text().splitlines()]
    prompts = {"leak": "Please help: " + q[0]["turns"][0] + " Thanks!",
               "turn2": q[5]["turns"][1],
               "clean": "Tell me about the history of the Roman empire in detail, with dates and names."}
    kept, rej = Decontaminate(DecontaminateParams(eval_sets=[str(MTB)], method=method))(frame(prompts))
    assert set(kept["id"]) == {"clean"}
    assert set(rej["reason"]) == {"decontaminate.match"} and rej.height == 4
    details = dict(zip(rej["id"], rej["detail"]))
    assert f"question.jsonl#{q[0]['question_id']}" in details["leak"]
    assert q[0]["turns"][0][:30] in details["leak"]
    assert f"question.jsonl#{q[5]['question_id']}" in details["turn2"]


def test_char_ngrams_for_chinese_and_relative_paths(tmp_path):
    (tmp_path / "eval.json").write_text(json.dumps(
        [{"id": "zh-1", "question": "请解释一下量子纠缠的基本原理以及它在量子通信中的应用"}], ensure_ascii=False))
    prompts = {"hit": "你好！请解释一下量子纠缠的基本原理以及它在量子通信中的应用，谢谢",
               "miss": "请写一首关于秋天的诗，描写落叶和丰收的景象"}
    step = Decontaminate(DecontaminateParams(eval_sets=["eval.json"], shingle="char", ngram=8),
                         StepContext(workdir=tmp_path))
    kept, rej = step(frame(prompts))
    assert set(rej["id"]) == {"hit"} and "eval.json#zh-1" in rej["detail"][0]
    assert set(kept["id"]) == {"miss"}


def test_min_overlap(tmp_path):
    (tmp_path / "e.jsonl").write_text(json.dumps({"text": "one two three four five six seven eight"}) + "\n")
    prompts = {"p": "zero one two three four five six seven eight nine"}
    f = frame(prompts)
    _, rej = Decontaminate(DecontaminateParams(eval_sets=[str(tmp_path / "e.jsonl")], ngram=5))(f)
    assert rej.height == 2 and "4 shared 5-grams" in rej["detail"][0] and "e.jsonl#0" in rej["detail"][0]
    kept, _ = Decontaminate(DecontaminateParams(eval_sets=[str(tmp_path / "e.jsonl")], ngram=5,
                                                min_overlap=5))(f)
    assert kept.height == 2
