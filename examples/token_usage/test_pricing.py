"""Pure functions: safe anywhere, in any process, in any order."""

import api
import pytest


@pytest.mark.parametrize("words", range(1, 21))
def test_count_tokens(words):
    assert api.count_tokens(" ".join(["w"] * words)) == words


@pytest.mark.parametrize(
    ("model", "tokens", "cost"),
    [("demo-small", 1000, 0.5), ("demo-large", 1000, 3.0), ("demo-small", 0, 0.0), ("demo-large", 250, 0.75)],
)
def test_price(model, tokens, cost):
    assert api.price(model, tokens) == cost


def test_unknown_model_has_no_price():
    with pytest.raises(KeyError):
        api.price("demo-huge", 10)
