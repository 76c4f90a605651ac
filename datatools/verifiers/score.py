"""Reading constraint specs in the shapes datasets carry them, and scoring one completion.

One function, `score_completion(text, answer, constraints)`, is the verifier for the
`verifiable` step and for GRPO's reward functions alike (TÜLU 3's RLVR, Lambert et al. 2024).
A constraint spec may be:
  - the short keys: `{max_words: 50, no_commas: true}`;
  - IFEval ids mapped to kwargs: `{"keywords:existence": {keywords: [cat]}, "punctuation:no_comma": {}}`;
  - IFEval's own columns: `{instruction_id_list: [...], kwargs: [{...}, ...]}` (also `instruction_id`,
    TÜLU 3's ground-truth shape), kwargs with null values for keys that do not apply;
  - a list of `{instruction_id | id | type: ..., kwargs: {...}}` items or bare ids;
  - any of these as a JSON string.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from datatools.verifiers import ifeval as _ifeval  # noqa: F401  (registers the IFEval checks)
from datatools.verifiers import legacy as _legacy  # noqa: F401  (registers the short keys)
from datatools.verifiers.answers import answers_match, extract_answer, reference_answer
from datatools.verifiers.checks import REGISTRY

ANSWER = "answer"
_ID_KEYS = ("instruction_id_list", "instruction_id")
_ITEM_ID_KEYS = ("instruction_id", "id", "type", "name")

Constraint = tuple[str, BaseModel | None]  # (check name, validated kwargs; None: switched off)
_OFF = object()


class ConstraintError(ValueError):
    """A constraint spec that cannot be read; `problems` lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _validate(name: str, kwargs: Any, where: str, problems: list[str]) -> Constraint | None:
    check = REGISTRY.get(name)
    if check is None:
        problems.append(f"{where}: unknown constraint {name!r}")
        return None
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        if check.family == "legacy":
            kwargs = {"value": kwargs}
        else:
            problems.append(f"{where}: kwargs of {name!r} must be a mapping, got {kwargs!r}")
            return None
    # IFEval's dataset stores every kwarg of every type, null where it does not apply
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return name, check.kwargs.model_validate(kwargs)
    except ValidationError as err:
        for e in err.errors():
            loc = ".".join(map(str, e["loc"]))
            problems.append(f"{where}.{loc}: {e['msg']}" if loc else f"{where}: {e['msg']}")
        return None


def _items(spec: Any, where: str, problems: list[str]):
    """(name, kwargs, location) for every constraint in `spec`; legacy off-switches dropped."""
    if isinstance(spec, str):
        text = spec.strip()
        if not text:
            return
        try:
            spec = json.loads(text)
        except ValueError:
            try:
                spec = ast.literal_eval(text)  # TÜLU 3 stores Python-literal ground truths
            except (ValueError, SyntaxError):
                problems.append(f"{where}: not JSON: {text[:60]!r}")
                return
        yield from _items(spec, where, problems)
    elif isinstance(spec, dict):
        ids = next((spec[k] for k in _ID_KEYS if k in spec), None)
        if ids is not None:
            kwargs = spec["kwargs"] if "kwargs" in spec else [None] * len(ids)
            if not isinstance(ids, list) or not isinstance(kwargs, list) or len(kwargs) != len(ids):
                problems.append(f"{where}: instruction ids and kwargs must be lists of one length")
                return
            for i, (name, kw) in enumerate(zip(ids, kwargs)):
                yield name, kw, f"{where}[{i}]"
            return
        for name, value in spec.items():
            check = REGISTRY.get(name)
            if value is None or value is False:  # switched off (`no_commas: false`)
                if check is None:
                    problems.append(f"{where}.{name}: unknown constraint {name!r}")
                else:
                    yield name, _OFF, f"{where}.{name}"
                continue
            if value is True and (check is None or check.family == "ifeval"):
                value = {}
            yield name, value, f"{where}.{name}"
    elif isinstance(spec, list):
        for i, item in enumerate(spec):
            if isinstance(item, str) and item.lstrip()[:1] in ("{", "["):
                yield from _items(item, f"{where}[{i}]", problems)  # JSON text in a list
            elif isinstance(item, str):
                yield item, None, f"{where}[{i}]"
            elif isinstance(item, dict) and any(k in item for k in _ITEM_ID_KEYS):
                name = next(item[k] for k in _ITEM_ID_KEYS if k in item)
                extra = set(item) - set(_ITEM_ID_KEYS) - {"kwargs"}
                if extra:
                    problems.append(f"{where}[{i}]: unexpected keys {sorted(extra)}")
                yield name, item.get("kwargs"), f"{where}[{i}]"
            elif isinstance(item, dict):
                yield from _items(item, f"{where}[{i}]", problems)
            else:
                problems.append(f"{where}[{i}]: expected an id or a mapping, got {item!r}")
    elif spec is not None:
        problems.append(f"{where}: expected a mapping, a list or JSON text, got {type(spec).__name__}")


def parse_constraints(spec: Any, where: str = "constraints") -> list[Constraint]:
    """Every constraint in `spec`, validated; raises ConstraintError listing all problems."""
    problems: list[str] = []
    out: dict[str, Constraint] = {}
    for name, kwargs, loc in list(_items(spec, where, problems)):
        parsed = (name, None) if kwargs is _OFF else _validate(name, kwargs, loc, problems)
        if parsed is None:
            continue
        if name in out:
            problems.append(f"{loc}: {name!r} given twice")
        out[name] = parsed
    if problems:
        raise ConstraintError(problems)
    return list(out.values())


def merge_constraints(base: list[Constraint], own: list[Constraint]) -> list[Constraint]:
    """`own` (a record's constraints) wins over `base` (the recipe's) check by check; a check
    switched off in `own` (`no_commas: false`) is not applied."""
    merged = {name: c for name, c in base}
    merged.update({name: c for name, c in own})
    return list(merged.items())


@dataclass
class Verdict:
    """Each applied check's (passed, detail); `score` is the fraction passed (None: no check)."""

    results: dict[str, tuple[bool, str]] = field(default_factory=dict)

    @property
    def score(self) -> float | None:
        if not self.results:
            return None
        return sum(ok for ok, _ in self.results.values()) / len(self.results)

    @property
    def all_passed(self) -> bool | None:
        return None if not self.results else all(ok for ok, _ in self.results.values())

    def failures(self) -> str:
        return "; ".join(f"{c}: {d}" for c, (ok, d) in self.results.items() if not ok)


IFEVAL_COLUMNS = ("instruction_id_list", "kwargs")


def constraints_from_meta(meta: dict, key: str | None = "constraints"):
    """A record's own constraint spec: `meta[key]`, else IFEval's own columns carried as meta
    (`instruction_id_list` + `kwargs`, as google/IFEval rows read in); None when neither."""
    if key and meta.get(key) is not None:
        return meta[key]
    if IFEVAL_COLUMNS[0] in meta:
        return {k: meta.get(k) for k in IFEVAL_COLUMNS if k in meta}
    return None


def score_completion(text: str, answer: Any = None, constraints: Any = None) -> Verdict:
    """Verify one completion: its final answer against `answer` (a number, a bare answer or a
    GSM8K/MATH solution; None: no answer check) and every constraint in `constraints` (any
    spec shape above, or an already parsed list). Raises ConstraintError on a bad spec."""
    text = text or ""
    parsed = (constraints if isinstance(constraints, list) and all(
        isinstance(c, tuple) for c in constraints) else parse_constraints(constraints))
    verdict = Verdict()
    reference = reference_answer(answer)
    if reference is not None:
        got, how = extract_answer(text)
        verdict.results[ANSWER] = (answers_match(got, reference),
                                   f"got {got!r} (by {how}), expected {reference!r}")
    for name, kwargs in parsed:
        if kwargs is None:
            continue
        if not text.strip():
            verdict.results[name] = (False, "empty answer")
            continue
        verdict.results[name] = REGISTRY[name](text, kwargs)
    return verdict
