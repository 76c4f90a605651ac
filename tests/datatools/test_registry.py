"""The step registry: every name resolves to a Step class of that name, imported on demand."""
from __future__ import annotations

import subprocess
import sys

import pytest

from datatools.registry import STEP_CLASSES, STEPS
from datatools.step import Step


@pytest.mark.parametrize("name", sorted(STEP_CLASSES))
def test_each_name_resolves_to_a_step_class_of_that_name(name):
    cls = STEPS[name]
    assert issubclass(cls, Step) and cls.name == name


def test_unknown_names_are_not_steps():
    assert "valdiate" not in STEPS and STEPS.get("valdiate") is None
    with pytest.raises(KeyError):
        STEPS["valdiate"]


def test_loading_a_recipe_imports_only_the_steps_it_uses(tmp_path):
    """Start-up cost: a validate-only recipe must not import judges, generation or labels."""
    (tmp_path / "r.yaml").write_text("name: s\nsources: [{path: d.jsonl}]\n"
                                     "steps: [{validate: {}}]\noutputs: {dir: out}\n")
    code = ("import sys; from datatools.recipe import load_recipe; load_recipe('r.yaml'); "
            "print(sorted(m for m in sys.modules if m.startswith(('datatools.judge', "
            "'datatools.generate', 'datatools.labels.aggregate', 'datatools.filters.'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]", out
