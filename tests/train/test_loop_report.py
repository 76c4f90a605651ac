"""The loop report's per-round fields: the trained policy's implicit-reward preference on
held-out pairs (checked against the test's own log-prob code, and against the right
reference), judge agreement with Cohen's κ (checked against a hand computation), and the
reasons given when either is not measured."""
from __future__ import annotations

import polars as pl
import pytest

from datatools.schemas.train import Stage, TrainSection
from tests.train.conftest import planted_pairs
from tests.train.test_learns import own_logp


def write_pairs(rows, folder):
    folder.mkdir(parents=True)
    pl.DataFrame(rows).write_parquet(folder / "pairs.parquet")
    return folder


@pytest.fixture(scope="module")
def trained_adapter(tiny_model_dir, tmp_path_factory):
    """A DPO adapter trained (briefly, at a high rate) to prefer answers ending in "good"."""
    from datatools.train.run import run_training

    tmp = tmp_path_factory.mktemp("pref")
    data = write_pairs(planted_pairs(48, seed=3), tmp / "train")
    section = TrainSection(model=str(tiny_model_dir), method="dpo", data=str(data), cpu=True,
                           eval_fraction=0.0, samples=0, max_steps=8, batch_size=8,
                           learning_rate=5e-3, max_length=96, output_dir=str(tmp / "out"))
    return run_training(section, base_dir=tmp, seed=0)["final_adapter"]


def test_held_out_preference_is_the_implicit_reward_against_the_reference(
        tiny_model_dir, trained_adapter, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from datatools.train.loop_report import held_out_preference

    held = planted_pairs(24, seed=99)  # other prompts than the training pairs'
    pairs = write_pairs(held, tmp_path / "held")
    stage = Stage(method="dpo", max_length=96)
    got = held_out_preference(str(tiny_model_dir), trained_adapter, None, pairs, stage,
                              tmp_path / "r", cpu=True)
    assert got["n_pairs"] == 24 and got["reference"] == "base (adapter disabled)"
    # the test's own implicit reward: β·[(log π − log π_ref)(chosen) − (…)(rejected)]
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                      trained_adapter).eval()

    def ratio(p, side):
        with model.disable_adapter():
            ref = own_logp(model, tok, p["prompt"], p[side])
        return own_logp(model, tok, p["prompt"], p[side]) - ref

    margins = [0.1 * (ratio(p, "chosen") - ratio(p, "rejected")) for p in held]
    share = sum(m > 0 for m in margins) / len(margins)
    assert share >= 0.8  # the trained preference carries over to prompts it never saw
    assert got["implicit_reward"]["accuracy"]["value"] == pytest.approx(share)
    assert got["implicit_reward"]["mean_margin"]["value"] == pytest.approx(
        sum(margins) / len(margins), abs=1e-3)
    assert (tmp_path / "r" / "held_out_margins.parquet").exists()
    # measured against the policy it continued from: the adapter against itself moves nothing
    same = held_out_preference(str(tiny_model_dir), trained_adapter, trained_adapter, pairs,
                               stage, tmp_path / "self", cpu=True)
    assert same["reference"] == trained_adapter and same["n_pairs"] == 24
    assert same["implicit_reward"]["accuracy"]["value"] == 0.0
    assert abs(same["implicit_reward"]["mean_margin"]["value"]) < 1e-4


def test_judge_agreement_kappa_matches_a_hand_computation():
    """Two judges on three answers per prompt: κ over the 3 within-prompt answer pairs each."""
    from datatools.labels.judge_agreement import JudgeAgreement, JudgeAgreementParams

    verifier = [[1.0, 0.5, 0.0], [1.0, 1.0, 0.0], [0.0, 0.5, 1.0]]
    other = [[4.0, 3.0, 1.0], [5.0, 2.0, 2.0], [1.0, 4.0, 3.0]]
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(3) for _ in range(3)],
                          "judge_verifiable": [v for r in verifier for v in r],
                          "judge_rm": [v for r in other for v in r]})
    step = JudgeAgreement(JudgeAgreementParams(judge="judge_rm", reference="judge_verifiable",
                                               level="pair"))
    kept, rejected = step(frame)
    assert kept.height == 9 and rejected.height == 0
    # by hand, (judge, verifier) preference per pair (0,1) (0,2) (1,2):
    # r0: (1st,1st) (1st,1st) (1st,1st); r1: (1st,tie) (1st,1st) (tie,1st);
    # r2: (2nd,2nd) (2nd,2nd) (1st,2nd) → agree 6/9
    # judge marginals 1st 6, 2nd 2, tie 1; verifier 1st 5, 2nd 3, tie 1
    p_o, p_e = 6 / 9, (6 * 5 + 2 * 3 + 1 * 1) / 81
    assert step.stats["compared"] == 9
    assert step.stats["agreement"] == pytest.approx(round(p_o, 4))
    assert step.stats["cohen_kappa"] == pytest.approx(round((p_o - p_e) / (1 - p_e), 4))


def test_loop_reports_agreement_only_with_a_second_judge(tmp_path):
    from datatools.schemas.errors import ConfigError
    from datatools.train.loop_report import judge_agreement, judge_steps

    one = judge_agreement({"steps": []}, [])
    assert one["measured"] is False and "one judge" in one["reason"]
    second = [{"verifiable": {"name": "strict", "scoring": "all", "set_score": False}}]
    steps = judge_steps(second)
    assert steps[1] == {"judge_agreement": {"judge": "judge_strict",
                                            "reference": "judge_verifiable", "level": "pair"}}
    report = {"steps": [{"name": "judge_agreement", "location": "steps[3].judge_agreement",
                         "stats": {"judge": "judge_strict", "reference": "judge_verifiable",
                                   "level": "pair", "compared": 4, "agreement": 0.5,
                                   "cohen_kappa": 0.0}}]}
    got = judge_agreement(report, second)
    assert got["measured"] and got["pairs"][0]["cohen_kappa"] == 0.0
    with pytest.raises(ConfigError, match="not a judge"):
        judge_steps([{"validate": {}}])


def test_round_summary_says_why_a_number_is_missing():
    from datatools.train.loop_report import describe, not_measured, round_summary

    entry = {"round": 1, "data": {"rows": 3, "dropped": {"build.pairwise.tie": 5}},
             "preference": not_measured("no held-out prompts"),
             "judge_agreement": {"measured": False, "reason": "one judge (verifiable)"}}
    s = round_summary(entry)
    assert s["pairs"] == 3 and s["dropped"] == {"build.pairwise.tie": 5}
    assert s["preference"] == {"n": 0, "accuracy": None, "ci95": None, "mean_margin": None,
                               "reason": "no held-out prompts"}
    line = describe(entry)
    assert "not measured (n=0: no held-out prompts)" in line and "one judge" in line
    assert round_summary({"round": 0}) == {}
    measured = {**entry, "preference": {"n_pairs": 8, "implicit_reward": {
        "accuracy": {"value": 0.75, "ci95": [0.4, 0.9]}, "mean_margin": {"value": 0.2}}}}
    assert "preference 0.750 (n=8), mean margin 0.2" in describe(measured)
