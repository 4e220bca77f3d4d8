"""Monitoring tests: they reset the usage table, as the dashboard's nightly job does."""

import time

import api
import pytest


@pytest.mark.parametrize("cycle", range(6))
def test_reset_clears_usage(cycle):
    for _ in range(10):
        api.reset_usage()
        assert api.usage_summary()["calls"] == 0
        time.sleep(0.02)
