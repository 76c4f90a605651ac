"""Verifiers: rule-based rewards with no model, shared by the `verifiable` judge step and by
GRPO's reward functions. `score_completion(text, answer, constraints)` is the entry point;
`CHECK_NAMES` lists every constraint it knows (25 IFEval types + the short keys)."""
from datatools.verifiers.score import (ANSWER, Constraint, ConstraintError, Verdict,
                                       constraints_from_meta, merge_constraints,
                                       parse_constraints, score_completion)
from datatools.verifiers.checks import REGISTRY
from datatools.verifiers.ifeval import IFEVAL_CHECKS
from datatools.verifiers.legacy import LEGACY_KEYS, Constraints

CHECK_NAMES = (ANSWER,) + LEGACY_KEYS + IFEVAL_CHECKS

__all__ = ["ANSWER", "CHECK_NAMES", "Constraint", "ConstraintError", "Constraints",
           "IFEVAL_CHECKS", "LEGACY_KEYS", "REGISTRY", "Verdict", "constraints_from_meta", "merge_constraints",
           "parse_constraints", "score_completion"]
