"""toxicity: field policy (toxic rejected kept, toxic chosen/prompt drop the record), thresholds,
batching, and a real tiny detoxify checkpoint loaded offline with the Jigsaw label layout."""
import csv
import os

import polars as pl
import pytest

from datatools.filters.toxicity import JIGSAW_LABELS, Toxicity, ToxicityParams
from datatools.frame import frame_from_rows, rows_from_record
from datatools.step import StepContext
from tests.conftest import SHARED_DATA

os.environ.setdefault("HF_HUB_OFFLINE", "1")
JIGSAW = SHARED_DATA / "jigsaw-sample" / "train.csv"
USER = [{"role": "user", "content": "hello there"}]


class Keyword:
    """Deterministic scorer: 'insult' 0.9 for texts containing BAD; records batch sizes."""

    def __init__(self):
        self.batches = []

    def predict(self, texts):
        self.batches.append(len(texts))
        return {lab: [0.9 if "BAD" in t and lab == "insult" else 0.3 if "MEH" in t else 0.01
                      for t in texts] for lab in JIGSAW_LABELS}


def sample():
    rows = rows_from_record("neg", "t", USER, [{"content": "fine", "score": 1}, {"content": "BAD no", "score": 0}])
    rows += rows_from_record("pos", "t", USER, [{"content": "BAD yes", "score": 1}, {"content": "ok", "score": 0}])
    rows += rows_from_record("prm", "t", [{"role": "user", "content": "BAD prompt"}], [{"content": "x", "score": 1}])
    rows += rows_from_record("sft", "t", USER, [{"content": "BAD sft"}])
    rows += rows_from_record("kto_u", "t", USER, [{"content": "BAD kto", "label": False}])
    rows += rows_from_record("kto_d", "t", USER, [{"content": "BAD kto2", "label": True}])
    rows += rows_from_record("meh", "t", USER, [{"content": "MEH", "score": 1}])
    return frame_from_rows(rows)


def run(params=None, scorer=None):
    scorer = scorer or Keyword()
    step = Toxicity(params or ToxicityParams(), StepContext(backends={"toxicity": scorer}, quiet=True))
    return step(sample()), scorer


def test_default_policy_keeps_toxic_rejected_drops_toxic_chosen_and_prompt():
    (kept, rej), _ = run()
    reasons = dict(rej.select("id", "reason").unique().iter_rows())
    assert reasons == {"pos": "toxicity.chosen.insult", "prm": "toxicity.prompt.insult",
                       "sft": "toxicity.completion.insult", "kto_d": "toxicity.chosen.insult"}
    assert rej.filter(pl.col("id") == "pos").height == 2  # the whole record goes
    assert set(kept["id"]) == {"neg", "kto_u", "meh"}
    bad_neg = kept.filter(pl.col("completion") == "BAD no")
    assert bad_neg["tox_insult"][0] == pytest.approx(0.9)  # scores kept as columns
    assert "insult=0.9 ≥ 0.5" in rej.filter(pl.col("id") == "pos")["detail"][0]
    assert "candidate pos-0" in rej.filter(pl.col("id") == "pos")["detail"][0]
    assert kept.height + rej.height == sample().height


def test_per_label_thresholds_and_policies():
    (kept, rej), _ = run(ToxicityParams(thresholds={"insult": 0.95, "toxicity": 0.2}, rejected="drop_row"))
    assert set(rej["reason"]) == {"toxicity.chosen.toxicity"}  # only 'meh' at 0.3 ≥ 0.2
    assert set(rej["id"]) == {"meh"}
    (kept, rej), _ = run(ToxicityParams(rejected="drop_row", prompt_field="none"))
    assert "toxicity.rejected.insult" in set(rej["reason"])
    assert "prm" in set(kept["id"])


def test_batching():
    (_, _), scorer = run(ToxicityParams(batch_size=3))
    assert max(scorer.batches) <= 3 and len(scorer.batches) >= 3


def test_unknown_threshold_label_is_an_error():
    with pytest.raises(ValueError, match="not checked"):
        run(ToxicityParams(labels=["insult"], thresholds={"threat": 0.1}))


@pytest.fixture(scope="session")
def tiny_detoxify(tmp_path_factory):
    """A random-weight tiny BERT saved as a detoxify checkpoint (offline recipe, STACK notes);
    its classes are read from the Jigsaw CSV header when the shared data is present."""
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    classes = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    if JIGSAW.exists():
        with JIGSAW.open() as fh:
            classes = next(csv.reader(fh))[2:]
    d = tmp_path_factory.mktemp("tinybert")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz")
    (d / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizer(str(d / "vocab.txt"), model_max_length=128).save_pretrained(d)
    cfg = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=128, num_labels=len(classes))
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg)
    cfg.save_pretrained(d)
    ckpt = d / "tiny.ckpt"
    torch.save({"config": {"arch": {"args": {"model_type": str(d), "model_name": "BertForSequenceClassification",
                                             "tokenizer_name": "BertTokenizer", "num_classes": len(classes)}},
                           "dataset": {"args": {"classes": classes}}},
                "state_dict": model.state_dict()}, ckpt)
    return ckpt, d, classes


def test_real_tiny_checkpoint_end_to_end(tiny_detoxify):
    ckpt, cfg_dir, classes = tiny_detoxify
    ctx = StepContext(quiet=True)
    # threshold 1.0: a random model never reaches it → nothing dropped, scores all present
    step = Toxicity(ToxicityParams(model=str(ckpt), huggingface_config=str(cfg_dir), batch_size=2,
                                   threshold=1.0), ctx)
    kept, rej = step(sample())
    assert rej.height == 0 and kept.height == sample().height
    for lab in JIGSAW_LABELS:  # detoxify renames toxic → toxicity, identity_hate → identity_attack
        col = kept[f"tox_{lab}"]
        assert col.is_not_null().all() and ((col > 0) & (col < 1)).all()
    # the loaded model is held in the run's model registry and reused by a step naming the
    # same checkpoint; a tiny threshold drops every record
    assert [k.kind for k in ctx.models.loaded] == ["toxicity"]
    kept2, rej2 = Toxicity(ToxicityParams(model=str(ckpt), huggingface_config=str(cfg_dir),
                                          threshold=1e-6), ctx)(sample())
    assert kept2.height == 0 and rej2["reason"].str.starts_with("toxicity.prompt.").all()
    assert [e["event"] for e in ctx.models.events] == ["hold"], "loaded once"


@pytest.mark.skipif(not JIGSAW.exists(), reason="shared data absent (../shared/data/jigsaw-sample)")
def test_jigsaw_label_layout(tiny_detoxify):
    _, _, classes = tiny_detoxify
    assert classes == ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    comments = pl.read_csv(JIGSAW)["comment_text"].head(5).to_list()
    rows = [r for i, c in enumerate(comments)
            for r in rows_from_record(f"j{i}", "jigsaw", [{"role": "user", "content": "say"}], [{"content": c}])]
    ckpt, cfg_dir, _ = tiny_detoxify
    kept, _ = Toxicity(ToxicityParams(model=str(ckpt), huggingface_config=str(cfg_dir), threshold=1.0),
                       StepContext(quiet=True))(frame_from_rows(rows))
    assert {f"tox_{lab}" for lab in JIGSAW_LABELS} <= set(kept.columns)
