"""The model registry loads once, shares, and releases after the last expected user."""
from __future__ import annotations

from datatools.models.registry import ModelKey, ModelRegistry


class FakeEngine:
    def __init__(self, log, name):
        self.log, self.name = log, name
        log.append(("load", name))

    def shutdown(self):
        self.log.append(("release", self.name))


def test_vllm_then_reward_model_never_both_resident():
    log: list = []
    reg = ModelRegistry()
    gen, rm = ModelKey("generator", "vllm:policy"), ModelKey("reward_model", "rm")
    reg.expect(gen, users=2)  # two generate steps share the engine
    reg.expect(rm)
    a = reg.acquire(gen, lambda: FakeEngine(log, "vllm"))
    reg.done(gen)
    assert reg.acquire(gen, lambda: FakeEngine(log, "vllm-again")) is a  # shared, not reloaded
    reg.done(gen)
    assert reg.loaded == set()
    reg.acquire(rm, lambda: FakeEngine(log, "rm"))
    assert log == [("load", "vllm"), ("release", "vllm"), ("load", "rm")]
    reg.done(rm)
    assert log[-1] == ("release", "rm") and reg.loaded == set()


def test_training_stages_release_each_model_before_the_next_loads(monkeypatch, tmp_path):
    import datatools.train.loading
    from datatools.schemas.train import TrainSection
    from datatools.train import run

    events: list = []
    monkeypatch.setattr(datatools.train.loading, "load_model",
                        lambda *a, **k: events.append("load") or (object(), object()))
    real_release = ModelRegistry.release
    monkeypatch.setattr(ModelRegistry, "release",
                        lambda self, key: events.append("release") or real_release(self, key))

    def fake_load_data(*a, **k):
        import datasets

        return datasets.Dataset.from_list([{"prompt": "p", "chosen": "a", "rejected": "b",
                                            "id": "1", "source": "s"}])

    monkeypatch.setattr(run, "load_training_data", fake_load_data)
    monkeypatch.setattr(run, "split_by_prompt", lambda ds, *a: (ds, ds.select([])))
    import datatools.train.preflight
    monkeypatch.setattr(datatools.train.preflight, "preflight", lambda ds, *a: (ds, __import__(
        "polars").DataFrame({"reason": []}, schema={"reason": __import__("polars").String})))

    class FakeTrainer:
        state = type("S", (), {"global_step": 1})()
        args = type("A", (), {"learning_rate": 1e-4})()
        model = None

        def train(self, resume_from_checkpoint=None):
            return type("R", (), {"training_loss": 0.1, "metrics": {}})()

    from dataclasses import replace

    from datatools.train.methods import METHODS
    monkeypatch.setitem(METHODS, "dpo", replace(METHODS["dpo"], trainer=lambda *a, **k: FakeTrainer()))
    monkeypatch.setattr("datatools.train.methods.common.save_adapter", lambda t, d: d)
    section = TrainSection(model="m", data=str(tmp_path), output_dir=str(tmp_path / "o"),
                           samples=0, stages=[{"method": "dpo"}, {"method": "dpo"}])
    run.run_training(section)
    assert events == ["load", "release", "load", "release"]  # never two stage models at once
