"""Runs in a subprocess whose HF_ENDPOINT points at the test's FakeHub (huggingface_hub reads
it at import time): push a build, then read it back the way a user or a `hub:` source would."""
import json
import sys
from pathlib import Path

from datatools.publish.hub import push_dataset
from datatools.schemas.errors import UserError

out, repo_id, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
result: dict = {}
try:
    pushes = push_dataset(out, repo_id, private=mode == "separate",
                          separate_repos=mode == "separate", quiet=True)
    result["pushed"] = [p.__dict__ for p in pushes]
    if mode == "one":
        import datasets

        for kind in ("pairwise", "unary", "sft"):
            ds = datasets.load_dataset(repo_id, kind, split="train")
            result[kind] = {"rows": ds.num_rows, "columns": ds.column_names}
        # another recipe reading the pushed dataset as a `hub:` source
        from datatools.pipeline import read_sources
        from datatools.recipe import load_recipe_dict

        loaded = load_recipe_dict({"name": "reread", "outputs": {"dir": str(out.parent / "re")},
                                   "sources": [{"hub": repo_id, "config": "pairwise"}]})
        frame, _, summaries, _ = read_sources(loaded)
        result["reread"] = {"rows": frame.height, "format": summaries[0]["format"]}
except UserError as err:
    result["error"] = str(err)
print("RESULT " + json.dumps(result))
