"""The published CDNOW fits, reproduced: run only when the data are at hand.

The CDNOW sample (2,357 customers, 39-week calibration, time in weeks) is
third-party data and is not shipped here. Point CRM_CDNOW_SUMMARY at a copy of
the per-customer summary (whitespace-separated columns ID x t_x T, as in the
lifetimes package's datasets/cdnow_customers.csv) to run these tests.
"""

import os

import numpy as np
import pytest

from crmcli.analytics import bgnbd, pareto

PATH = os.environ.get("CRM_CDNOW_SUMMARY")
pytestmark = pytest.mark.skipif(not PATH, reason="set CRM_CDNOW_SUMMARY to the CDNOW summary file")


@pytest.fixture(scope="module")
def cdnow():
    data = np.loadtxt(PATH, skiprows=1)
    assert data.shape == (2357, 4)
    return data[:, 1], data[:, 2], data[:, 3]


@pytest.mark.parametrize("module, published", [
    # Fader, Hardie & Lee (2005), "Counting your customers the easy way".
    (bgnbd, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
    # Fader & Hardie (2005), "A note on deriving the Pareto/NBD model and related expressions".
    (pareto, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
], ids=["bgnbd", "pareto"])
def test_published_estimates(cdnow, module, published):
    fit = module.fit(*cdnow)
    assert fit.converged
    for name, value in published.items():
        # Published to three decimals; the likelihood is flat enough along beta that
        # optimisers agree to about 4 in 10,000 (relative), hence the tolerance.
        assert fit.params[name] == pytest.approx(value, abs=6e-4 * max(1.0, value)), name
