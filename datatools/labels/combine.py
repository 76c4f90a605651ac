"""Combining several votes on one item into one value: majority, unanimous, mean, Dawid–Skene.

Votes arrive in long form, one (item, rater, value) triple per vote, as arrays of equal length;
each method returns one `Outcome` per item: the value kept, the support it has (share of votes,
or Dawid–Skene's posterior probability) and the vote counts for the ledger's detail.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Hashable

import numpy as np


@dataclass
class Outcome:
    value: Hashable | float | None   # the combined value; None when the votes tie
    support: float                   # share of votes for `value` (posterior for dawid_skene)
    counts: Counter = field(default_factory=Counter)  # value → votes
    spread: float = 0.0              # standard deviation of the votes (mean of scores)

    @property
    def n(self) -> int:
        return sum(self.counts.values())


def _group(items: list, values: list) -> dict[Hashable, list]:
    grouped: dict[Hashable, list] = {}
    for item, value in zip(items, values):
        grouped.setdefault(item, []).append(value)
    return grouped


def majority(items: list, values: list) -> dict[Hashable, Outcome]:
    """The most frequent value; a tie between the top values gives None (support = top share)."""
    out = {}
    for item, vs in _group(items, values).items():
        counts = Counter(vs)
        (top, c), *rest = counts.most_common()
        tied = bool(rest) and rest[0][1] == c
        out[item] = Outcome(None if tied else top, c / len(vs), counts)
    return out


def unanimous(items: list, values: list) -> dict[Hashable, Outcome]:
    """The value when every vote agrees; None otherwise."""
    out = {}
    for item, vs in _group(items, values).items():
        counts = Counter(vs)
        (top, c), = counts.most_common(1)
        out[item] = Outcome(top if len(counts) == 1 else None, c / len(vs), counts)
    return out


def mean(items: list, values: list) -> dict[Hashable, Outcome]:
    """The arithmetic mean of numeric votes; `spread` is their population standard deviation."""
    out = {}
    for item, vs in _group(items, values).items():
        xs = np.asarray(vs, dtype=float)
        out[item] = Outcome(float(xs.mean()), 1.0, Counter(float(x) for x in xs),
                            float(xs.std()))
    return out


@dataclass
class DawidSkeneFit:
    classes: list
    priors: np.ndarray          # π_k
    confusion: np.ndarray       # θ[rater, true class, given class]
    raters: list
    iterations: int

    def accuracy(self) -> dict[Hashable, float]:
        """Per rater: probability of giving the true class, Σ_k π_k θ_a[k, k]."""
        diag = np.einsum("akk->ak", self.confusion)
        return {r: float(diag[a] @ self.priors) for a, r in enumerate(self.raters)}


def dawid_skene(items: list, raters: list, values: list, max_iter: int = 100,
                tol: float = 1e-6, smoothing: float = 0.01):
    """Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates using the
    EM algorithm": each rater a has a confusion matrix θ_a[k, l] = P(says l | truth k).

    E-step: T_ik ∝ π_k Π_{votes (a, l) on i} θ_a[k, l]; M-step: π_k = mean_i T_ik and
    θ_a[k, l] = Σ_{votes (i, a, l)} T_ik / Σ_{votes (i, a, ·)} T_ik (with add-`smoothing`
    counts so a rater never seen on a class has no zero probability). Started from the vote
    shares (soft majority), as in the paper. Returns ({item: Outcome}, DawidSkeneFit), the
    Outcome's support being the posterior probability of the value kept.
    """
    classes = sorted(set(values), key=repr)
    item_keys = list(dict.fromkeys(items))
    rater_keys = list(dict.fromkeys(raters))
    at_item, at_rater, at_class = _index(item_keys), _index(rater_keys), _index(classes)
    ii = np.array([at_item[i] for i in items])
    ri = np.array([at_rater[r] for r in raters])
    ci = np.array([at_class[v] for v in values])
    n_i, n_a, n_k = len(item_keys), len(rater_keys), len(classes)
    t = np.zeros((n_i, n_k))
    np.add.at(t, (ii, ci), 1.0)
    t /= t.sum(axis=1, keepdims=True)
    iterations = 0
    for iterations in range(1, max_iter + 1):
        priors = t.mean(axis=0)
        theta = np.full((n_a, n_k, n_k), smoothing)
        np.add.at(theta, (ri, slice(None), ci), t[ii])
        theta /= theta.sum(axis=2, keepdims=True)
        log_t = np.tile(np.log(np.maximum(priors, 1e-300)), (n_i, 1))
        np.add.at(log_t, ii, np.log(theta[ri, :, ci]))
        log_t -= log_t.max(axis=1, keepdims=True)
        new_t = np.exp(log_t)
        new_t /= new_t.sum(axis=1, keepdims=True)
        done = np.abs(new_t - t).max() < tol
        t = new_t
        if done:
            break
    grouped = _group(items, values)
    out = {}
    for k, item in enumerate(item_keys):
        best = int(t[k].argmax())
        tied = n_k > 1 and np.isclose(np.sort(t[k])[-2], t[k, best])
        out[item] = Outcome(None if tied else classes[best], float(t[k, best]),
                            Counter(grouped[item]))
    return out, DawidSkeneFit(classes, priors, theta, rater_keys, iterations)


def _index(keys: list) -> dict:
    return {k: i for i, k in enumerate(keys)}
