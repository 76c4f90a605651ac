"""Load a recipe from YAML and validate all of it — sources, steps, outputs — at once.

Every problem is reported together with its location (`steps[1].exact_dedup.fields: ...`)
before anything runs, so a typo never costs a half-finished build.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from datatools.schemas.errors import ConfigError, Problem
from datatools.schemas.recipe import Recipe


@dataclass
class StepSpec:
    """One validated entry of `steps:`."""

    index: int
    name: str
    params: BaseModel

    @property
    def location(self) -> str:
        return f"steps[{self.index}].{self.name}"


@dataclass
class LoadedRecipe:
    recipe: Recipe
    steps: list[StepSpec]
    path: Path | None  # None when built from a dict

    @property
    def workdir(self) -> Path:
        """Relative paths in the recipe resolve from the recipe's folder."""
        return self.path.parent if self.path else Path.cwd()

    @property
    def out_dir(self) -> Path:
        out = Path(self.recipe.outputs.dir).expanduser()
        return out if out.is_absolute() else self.workdir / out


def _loc(parts: tuple[Any, ...], prefix: str = "") -> str:
    text = prefix
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _is_branch_tag(part: Any) -> bool:
    """pydantic names the union member an error came from (`constrained-float`, `dict[...]`)."""
    return isinstance(part, str) and (part.startswith("function-") or "[" in part
                                      or part.startswith("constrained-")
                                      or part in ("float", "int", "str", "bool"))


def _problems(err: ValidationError, prefix: str = "") -> list[Problem]:
    found = []
    for e in err.errors():
        parts = tuple(p for p in e["loc"] if not _is_branch_tag(p))
        branch = len(parts) != len(e["loc"]) and not str(e["loc"][-1]).startswith("function-")
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `datatools schema` lists every key)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        found.append((_loc(parts, prefix), msg, branch))
    # For a union (a number or {step: number}) keep the member that got furthest, and one
    # message per location, instead of one complaint per member.
    out, seen = [], set()
    for loc, msg, branch in found:
        deeper = any(o != loc and o.startswith(loc + ".") or o.startswith(loc + "[")
                     for o, _, _ in found)
        if branch and (deeper or loc in seen):
            continue
        seen.add(loc)
        out.append(Problem(loc, msg))
    return out


def validate_steps(raw_steps: Any, registry: dict) -> tuple[list[StepSpec], list[Problem]]:
    specs: list[StepSpec] = []
    problems: list[Problem] = []
    if raw_steps is None:
        return specs, problems
    if not isinstance(raw_steps, list):
        return specs, [Problem("steps", "must be a list of {step_name: {params}} items")]
    known = ", ".join(sorted(registry))
    for i, item in enumerate(raw_steps):
        if isinstance(item, str):  # `- validate` is a natural shorthand for `- validate: {}`
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            problems.append(Problem(f"steps[{i}]", "each step is one {step_name: {params}} item"))
            continue
        (name, params), = item.items()
        if name not in registry:
            problems.append(Problem(f"steps[{i}]", f"unknown step {name!r}; known steps: {known}"))
            continue
        if params is None:
            params = {}
        if not isinstance(params, dict):
            problems.append(Problem(f"steps[{i}].{name}", "params must be a mapping"))
            continue
        try:
            specs.append(StepSpec(i, name, registry[name].Params.model_validate(params)))
        except ValidationError as err:
            problems += _problems(err, f"steps[{i}].{name}")
    return specs, problems


def load_recipe_dict(data: Any, path: Path | None = None) -> LoadedRecipe:
    from datatools.registry import STEPS

    if not isinstance(data, dict):
        raise ConfigError(Problem(str(path or "recipe"), "a recipe is a YAML mapping"))
    problems: list[Problem] = []
    recipe = None
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as err:
        # Step params are checked below against the registry; skip pydantic's view of them.
        problems += [p for p in _problems(err) if not p.location.startswith("steps[")]
    specs, step_problems = validate_steps(data.get("steps"), STEPS)
    problems += step_problems
    if problems:
        raise ConfigError(problems)
    loaded = LoadedRecipe(recipe, specs, path)
    _check_columns(loaded, STEPS)
    return loaded


def _check_columns(loaded: LoadedRecipe, registry: dict) -> None:
    """Required columns across the whole recipe, and each step's own `check`, before any
    step runs."""
    from datatools.frame import BASE_COLUMNS
    from datatools.step import StepContext

    available = set(BASE_COLUMNS)
    problems = []
    ctx = StepContext(seed=loaded.recipe.seed, workdir=loaded.workdir)
    for spec in loaded.steps:
        step = registry[spec.name](spec.params, ctx)
        missing = sorted(step.required_columns() - available)
        if missing:
            problems.append(Problem(spec.location, f"needs column(s) {', '.join(missing)}, which "
                                    "no source or earlier step provides"))
        available |= step.produced_columns()
        problems += [Problem(f"{spec.location}.{p.location}" if p.location else spec.location,
                             p.message) for p in step.check(ctx)]
    problems += _check_actors(loaded, registry)
    if problems:
        raise ConfigError(problems)


def _check_actors(loaded: LoadedRecipe, registry) -> list[Problem]:
    """`executor.actors` names steps of this recipe that run block by block."""
    used = [spec.name for spec in loaded.steps]
    problems = []
    for name in loaded.recipe.executor.actors:
        where = f"executor.actors.{name}"
        if name not in used:
            problems.append(Problem(where, f"no step {name!r} in this recipe (its steps: "
                                    f"{', '.join(used) or 'none'})"))
        elif registry[name].scope == "global":
            problems.append(Problem(where, f"{name} is a global step: it runs through its own "
                                    "plan, not on actors"))
    return problems


MAX_YAML_VALUES = 100_000  # a recipe is a page of YAML; aliases must not multiply it


def load_recipe(path: str | Path) -> LoadedRecipe:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(Problem(str(path), "recipe file not found"))
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise ConfigError(Problem(f"{path}:{line}", f"not valid UTF-8 (byte 0x{raw[err.start]:02x} "
                                  f"at column {column}); save the recipe as UTF-8")) from None
    try:
        _check_expansion(yaml.compose(text), path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(Problem(where, f"not valid YAML: {getattr(err, 'problem', err)}"))
    return load_recipe_dict(data, path.resolve())


def _check_expansion(root, path: Path) -> None:
    """Refuse YAML whose anchors/aliases expand past MAX_YAML_VALUES values ("billion
    laughs") or refer to themselves: PyYAML shares aliased objects, so loading is cheap, but
    dumping params for the cache key or the report would expand them all. Counted on the node
    graph with each node's size computed once, so the check itself never expands anything."""
    import yaml

    sizes: dict[int, int] = {}
    stack, active = [(root, False)] if root is not None else [], set()
    while stack:  # iterative post-order walk: deep YAML cannot hit the recursion limit
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            children = _children(node, yaml)
            sizes[key] = min(1 + sum(sizes[id(c)] for c in children), MAX_YAML_VALUES + 1)
            if sizes[key] > MAX_YAML_VALUES:
                mark = node.start_mark
                raise ConfigError(Problem(f"{path}:{mark.line + 1}", "anchors/aliases here "
                                          f"expand to more than {MAX_YAML_VALUES:,} values; "
                                          "write the values out instead"))
            continue
        if key in sizes:
            continue
        if key in active:
            raise ConfigError(Problem(f"{path}:{node.start_mark.line + 1}",
                                      "an alias refers to itself (a recursive value)"))
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node, yaml) if id(c) not in sizes)


def _children(node, yaml) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    return []


def recipe_json_schema() -> dict:
    """Recipe JSON Schema with each step's params spelled out, for editor completion."""
    from datatools.registry import STEPS

    schema = Recipe.model_json_schema()
    step_items = []
    for name, cls in sorted(STEPS.items()):
        params = cls.Params.model_json_schema()
        step_items.append({
            "type": "object", "additionalProperties": False, "required": [name],
            "properties": {name: {"anyOf": [params, {"type": "null"}]}},
            "description": (cls.__doc__ or "").strip().split("\n")[0],
        })
    schema["properties"]["steps"] = {"type": "array", "items": {"oneOf": step_items}}
    return schema
