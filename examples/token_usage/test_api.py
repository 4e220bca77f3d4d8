"""API tests: log a call, then read the usage back. They share the table with every other process."""

import time

import api
import pytest

pytestmark = pytest.mark.serial  # remove this line and these tests fail now and then under -n auto


@pytest.fixture(autouse=True)
def empty_usage():
    api.reset_usage()


@pytest.mark.parametrize("prompt", ["hello", "plant the north field", "harvest row 7", "check soil moisture"])
def test_complete_logs_one_call(prompt):
    api.complete(prompt)
    time.sleep(0.05)  # e.g. the API flushes a buffer
    assert api.usage_summary()["calls"] == 1


def test_tokens_are_summed():
    api.complete("one two three")
    api.complete("four five", model="demo-large")
    assert api.usage_summary() == {"calls": 2, "tokens": 5}


def test_response_reports_usage():
    response = api.complete("water the greenhouse")
    assert response["usage"] == {"tokens": 3, "cost": 0.0015}
    assert api.usage_summary()["tokens"] == 3
