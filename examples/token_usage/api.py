"""A tiny completion API that logs the tokens each call uses."""

from __future__ import annotations

import time

from tokenusage import logger

PRICE_PER_1K_TOKENS = {"demo-small": 0.5, "demo-large": 3.0}


def count_tokens(text: str) -> int:
    return len(text.split())


def price(model: str, tokens: int) -> float:
    return round(PRICE_PER_1K_TOKENS[model] * tokens / 1000, 6)


def complete(prompt: str, model: str = "demo-small") -> dict[str, object]:
    tokens = count_tokens(prompt)
    time.sleep(0.05)  # the model "thinks"; another process may touch the table meanwhile
    logger.log(model, tokens)
    return {"model": model, "text": prompt.upper(), "usage": {"tokens": tokens, "cost": price(model, tokens)}}


def usage_summary() -> dict[str, int]:
    return {"calls": logger.count(), "tokens": logger.total_tokens()}


def reset_usage() -> None:
    logger.clear()
