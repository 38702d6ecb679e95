"""scikit-learn's estimator contract (``check_estimator``) for the drop-in estimators."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import mplib.compat.sklearn as ours


@parametrize_with_checks(
    [
        ours.OrthogonalMatchingPursuit(),
        ours.OrthogonalMatchingPursuitCV(),
    ]
)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # early-stop warnings on toy data
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)
