"""Child process for test_gen_resume: runs the generate step with the tiny transformers model.

argv: model_dir cache_dir out_parquet calls_log. Every backend call appends one line per
conversation to calls_log (opened in append mode and flushed, so the log survives SIGKILL),
and sleeps a little so the parent can kill it mid-way.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from conftest import prompt_frame  # noqa: E402

from datatools.generate.backends import make_backend  # noqa: E402
from datatools.generate.step import Generate, GenerateParams  # noqa: E402
from datatools.step import StepContext  # noqa: E402

N_RECORDS = 8
SLEEP_S = 0.3  # per backend call: leaves the parent time to kill mid-way


class Logged:
    def __init__(self, inner, log):
        self.inner, self.log = inner, log

    def identity(self):
        return self.inner.identity()

    def chat(self, convs, sampling):
        out = self.inner.chat(convs, sampling)
        time.sleep(SLEEP_S)
        with open(self.log, "a") as f:
            for c in convs:
                f.write(c[-1]["content"] + "\n")
            f.flush()
        return out


def main(model_dir, cache_dir, out, log):
    spec = {"backend": "transformers", "model": model_dir, "name": "tiny", "n": 2,
            "max_tokens": 8, "temperature": 1.0, "seed": 5}
    params = GenerateParams.model_validate({"policies": [spec], "batch_size": 1})
    backend = Logged(make_backend({k: v for k, v in spec.items()
                                   if k not in {"name", "n", "max_tokens", "temperature",
                                                "seed"}}), log)
    ctx = StepContext(cache_dir=Path(cache_dir), quiet=True, backends={"tiny": backend})
    kept, rejected = Generate(params, ctx)(prompt_frame(N_RECORDS))
    kept.write_parquet(out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
