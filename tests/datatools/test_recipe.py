"""Recipe validation: every problem reported at once, with its location, before any work."""
import pytest

from datatools.recipe import load_recipe, load_recipe_dict, recipe_json_schema
from datatools.schemas.errors import ConfigError

GOOD = {
    "name": "demo", "seed": 0,
    "sources": [{"path": "data/prefs.jsonl"}],
    "steps": [{"validate": {}}, {"exact_dedup": {"fields": ["prompt"]}}],
    "outputs": {"dir": "out/demo", "pairwise": {}, "unary": {}, "sft": {}},
}


def test_good_recipe_loads_with_typed_step_params():
    loaded = load_recipe_dict(GOOD)
    assert [s.name for s in loaded.steps] == ["validate", "exact_dedup"]
    assert loaded.steps[1].params.fields == ["prompt"]
    assert loaded.recipe.outputs.pairwise.rejected == "worst"


def test_all_problems_reported_together_with_locations():
    bad = {
        "name": "demo",
        "sources": [{"path": "a.jsonl", "fromat": "auto"}],
        "steps": [{"validate": {}}, {"exact_dedup": {"fields": "prompt"}}, {"dedupe": {}},
                  {"exact_dedup": {"fields": ["prompt"], "typo": 1}}],
        "outputs": {"dir": "out", "pairwise": {"min_margin": -1}},
        "extra_top": 1,
    }
    with pytest.raises(ConfigError) as err:
        load_recipe_dict(bad)
    text = str(err.value)
    assert "sources[0].fromat: unknown key" in text
    assert "steps[1].exact_dedup.fields: Input should be a valid list" in text
    assert "steps[2]: unknown step 'dedupe'; known steps:" in text and "exact_dedup" in text
    assert "steps[3].exact_dedup.typo: unknown key" in text
    assert "outputs.pairwise.min_margin" in text
    assert "extra_top: unknown key" in text
    assert len(err.value.problems) == 6


def test_source_needs_exactly_one_location():
    bad = dict(GOOD, sources=[{"path": "a", "hub": "org/x"}])
    with pytest.raises(ConfigError, match="exactly one of `path` or `hub`"):
        load_recipe_dict(bad)


def test_missing_required_keys():
    with pytest.raises(ConfigError) as err:
        load_recipe_dict({"name": "x"})
    locations = {p.location for p in err.value.problems}
    assert {"sources", "outputs"} <= locations


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nsources: [\n  - path: a\n")
    with pytest.raises(ConfigError, match=r"r\.yaml:\d+: not valid YAML"):
        load_recipe(path)


def test_relative_output_dir_resolves_from_recipe_folder(tmp_path):
    import yaml

    path = tmp_path / "sub" / "r.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(GOOD))
    loaded = load_recipe(path)
    assert loaded.out_dir == tmp_path / "sub" / "out" / "demo"


def test_json_schema_lists_every_step_with_params():
    schema = recipe_json_schema()
    names = [next(iter(item["properties"])) for item in schema["properties"]["steps"]["items"]["oneOf"]]
    assert "validate" in names and "exact_dedup" in names
    assert schema["additionalProperties"] is False
