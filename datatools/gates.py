"""Gates on what the builders made (the steps' drop-rate gates live with the pipeline)."""
from __future__ import annotations

from datatools.schemas.errors import Problem, QualityGateError


def one_class_gate(unary, meta: dict) -> None:
    """A threshold that labels every candidate the same way leaves KTO nothing to contrast."""
    n_d, n_u = meta.get("n_desirable", 0), meta.get("n_undesirable", 0)
    if unary.threshold is not None and (n_d + n_u) and not (n_d and n_u):
        empty = "desirable" if not n_d else "undesirable"
        raise QualityGateError(Problem("outputs.unary.threshold", (
            f"threshold {unary.threshold} leaves no {empty} example ({n_d} desirable, {n_u} "
            "undesirable): set it between the scores the candidates really have")))
