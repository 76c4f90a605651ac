"""Every recipe a user may copy validates against the current schema and step registry."""
from pathlib import Path

import pytest

from datatools.recipe import load_recipe

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def test_the_documented_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {"quickstart", "onpolicy", "train-dpo", "train-kto", "multi-stage"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_validates(path):
    loaded = load_recipe(path)
    assert loaded.steps, f"{path.name} has no steps"
