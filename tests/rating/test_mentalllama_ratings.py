"""MentalLLaMA's released DR ratings (../shared/data/imhi_ratings): the parse (items, three raters, the BOM of one
file), and each file's Krippendorff's alpha equal to the package's own value on the matrix read directly here;
agreement figures on small matrices worked by hand."""

import csv
import json
import math

import pytest

from paths import SHARED_DATA

from mentalglm.rating.agreement import gwet_ac1, krippendorff_alpha, rating_matrix, raw_agreement
from mentalglm.rating.readers import read_mentalllama
from mentalglm.tasks.rubric import CRITERIA

FILES = {"chatgpt_data.csv": 121, "chatgpt_false_data.csv": 43, "gpt3_data.csv": 121}


@pytest.fixture
def ratings_dir():
    folder = SHARED_DATA / "imhi_ratings"
    if not (folder / "chatgpt_data.csv").exists():
        pytest.skip("../shared/data is absent")
    return folder


@pytest.mark.parametrize("name,items", FILES.items())
def test_parse_and_alpha_against_the_package(ratings_dir, name, items):
    import krippendorff
    import numpy as np

    path = ratings_dir / name
    ratings = read_mentalllama(path)
    assert len({r.item for r in ratings}) == items and {r.rater for r in ratings} == {"r1", "r2", "r3"}
    assert len(ratings) == items * 3 * len(CRITERIA) and {r.system for r in ratings} == {path.stem}
    with path.open(encoding="utf-8-sig", newline="") as handle:  # the direct read: BOM stripped, lists parsed
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[0] == "text"
    for criterion in CRITERIA:
        direct = np.array([json.loads(row[criterion]) for row in rows], dtype=float).T  # raters x items
        expected = krippendorff.alpha(reliability_data=direct, level_of_measurement="ordinal",
                                      value_domain=[0.0, 1.0, 2.0, 3.0])
        _, _, matrix = rating_matrix(r for r in ratings if r.criterion == criterion)
        assert np.array(matrix).shape == direct.shape
        assert krippendorff_alpha(matrix, "ordinal") == pytest.approx(expected, abs=1e-12)
        assert sorted(np.array(matrix).ravel().tolist()) == sorted(direct.ravel().tolist())


def test_agreement_on_matrices_worked_by_hand():
    nan = math.nan
    # 3 raters x 4 items; item 4 rated by two raters only
    matrix = [[3, 2, 0, 1], [3, 2, 1, nan], [3, 1, 1, 1]]
    # pairs agreeing per item: 3/3, 1/3, 1/3, 1/1 -> mean 2/3
    assert raw_agreement(matrix) == pytest.approx((1 + 1 / 3 + 1 / 3 + 1) / 4)
    # AC1: pa = 2/3; pi_k = mean share of category k per item
    pi = {0: (0 + 0 + 1 / 3 + 0) / 4, 1: (0 + 1 / 3 + 2 / 3 + 1) / 4, 2: (0 + 2 / 3 + 0 + 0) / 4, 3: (1 + 0 + 0 + 0) / 4}
    pe = sum(p * (1 - p) for p in pi.values()) / 3
    assert gwet_ac1(matrix) == pytest.approx((2 / 3 - pe) / (1 - pe))
    same = [[3, 3, 3], [3, 3, 3]]  # nearly every score the same: alpha undefined, agreement and AC1 perfect
    assert krippendorff_alpha(same, "ordinal") is None and raw_agreement(same) == 1.0 and gwet_ac1(same) == 1.0
