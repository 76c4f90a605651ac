"""Agreement statistics against values computed by hand and values published with the methods."""
import pytest

from datatools.labels.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha


def votes_of(table):
    """[[rater values per item]] → (item, value) votes; None is a missing value."""
    return [(i, v) for i, values in enumerate(table) for v in values if v is not None]


def test_fleiss_kappa_by_hand():
    # items (T,T,T) (T,T,F) (F,F,F): P_i = 1, 1/3, 1 → P̄ = 7/9; p_T = 5/9, p_F = 4/9
    # P̄_e = 25/81 + 16/81 = 41/81; κ = (63/81 − 41/81) / (40/81) = 22/40
    votes = votes_of([[True, True, True], [True, True, False], [False, False, False]])
    assert fleiss_kappa(votes) == pytest.approx(22 / 40)


def test_fleiss_kappa_published_example():
    # Fleiss' worked example as reproduced on Wikipedia ("Fleiss' kappa"): 10 subjects,
    # 14 raters, 5 categories, κ = 0.210
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
              [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
              [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    votes = [(i, j) for i, row in enumerate(counts) for j, n in enumerate(row) for _ in range(n)]
    assert fleiss_kappa(votes) == pytest.approx(0.2099, abs=1e-4)


def test_fleiss_kappa_undefined_and_single_votes():
    assert fleiss_kappa([(0, True), (0, True), (1, True), (1, True)]) is None  # one category
    assert fleiss_kappa([(0, True), (1, False)]) is None  # no item with two votes
    # perfect agreement with both categories present is 1; systematic disagreement is negative
    assert fleiss_kappa(votes_of([[True, True], [False, False]])) == pytest.approx(1.0)
    assert fleiss_kappa(votes_of([[True, False], [False, True]])) == pytest.approx(-1.0)


def test_krippendorff_alpha_by_hand():
    # units (1,2) (3,3) (2,4), n = 6. D_o = (2·1² + 0 + 2·2²) / 6 = 10/6;
    # D_e = 2(6·43 − 15²) / (6·5) = 66/30; α = 1 − (10/6)/(66/30) = 16/66
    votes = votes_of([[1, 2], [3, 3], [2, 4]])
    assert krippendorff_alpha(votes, "interval") == pytest.approx(16 / 66)


def test_krippendorff_alpha_published_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers, 12 units,
    # missing values; α_nominal = 0.743, α_interval = 0.849
    n = None
    observers = [[1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
                 [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n]]
    units = [[obs[u] for obs in observers] for u in range(12)]
    assert krippendorff_alpha(votes_of(units), "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(votes_of(units), "interval") == pytest.approx(0.849, abs=5e-4)


def test_krippendorff_alpha_edge_cases():
    assert krippendorff_alpha([(0, 3.0), (0, 3.0), (1, 3.0), (1, 3.0)]) is None  # no variation
    assert krippendorff_alpha([(0, 1.0), (1, 2.0)]) is None  # nothing pairable
    with pytest.raises(ValueError, match="unknown metric"):
        krippendorff_alpha([(0, 1), (0, 2)], "ordinalish")


def test_cohen_kappa_by_hand():
    # p_o = 3/4; marginals T 3/4 · 2/4 + F 1/4 · 2/4 → p_e = 1/2; κ = (3/4 − 1/2) / (1/2)
    pairs = [(True, True), (True, True), (True, False), (False, False)]
    assert cohen_kappa(pairs) == pytest.approx(0.5)
    assert cohen_kappa([(True, None)]) is None
