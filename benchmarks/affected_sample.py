"""The sample project of benchmarks/affected.py: `ledger`, a small bookkeeping package and its tests.

Deterministic: the same files every time. Its shapes are the ones a test-selection tool must follow:

- `ledger/core.py` is used by every test (each calls `core.pause()`, a few ms of work); leaf modules (`stats`,
  `dates`, `units`, `textfmt`, `parse`) by one or two test modules each;
- module-level constants read at import (`config.CURRENCIES` builds a parametrize list), a class attribute
  (`models.Account.limit`), decorators with arguments (`pricing`: `@scaled(100)`, `@clamped(0, 40)`), a default
  argument (`textfmt.pad`);
- a data file read at run time (`ledger/data/rates.json`), a data file read by the package at import
  (`ledger/data/catalog.csv`, whose rows parametrize `tests/test_catalog.py`) and one read by a test module at
  import (`tests/data/tax_cases.csv`, parametrize ids `row1`... that stay when the data changes);
- fixtures in `tests/conftest.py`, a module-scoped fixture (`tests/test_stats.py`), a test class, and a test that
  runs `python -c` importing the package (`tests/test_cli.py`), through code (`cli._banner`) nothing else runs.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import random

LEAF_MODULES = ("ledger/stats.py", "ledger/dates.py", "ledger/units.py", "ledger/textfmt.py", "ledger/parse.py")
# A test node id to run alone (the "one test" of the nothing-changed figure).
ONE_TEST = "tests/test_cli.py::test_usage"

# The package's data, mirrored here to compute the tests' expectations.
CURRENCIES = ("EUR", "USD", "GBP", "JPY", "CHF")
DECIMALS = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "CHF": 2}
TAX_RATES = {"DE": 19, "FR": 20, "IT": 22, "ES": 21, "NL": 21, "AT": 20}
RATES = {"EUR": 1.0, "USD": 1.08, "GBP": 0.86, "JPY": 162.0, "CHF": 0.97}
KM_PER_MILE = 1.609344
LB_PER_KG = 2.20462
CATALOG = [
    ("A-100", "Ledger Paper", 450, 120),
    ("A-110", "Ink Cartridge", 1899, 40),
    ("B-200", "Desk Lamp", 3499, 12),
    ("B-210", "Filing Box", 799, 65),
    ("C-300", "Fountain Pen", 1299, 30),
    ("C-310", "Pencil Case", 350, 200),
    ("D-400", "Stapler", 1050, 25),
    ("D-410", "Paper Clips", 199, 500),
    ("E-500", "Calculator", 2450, 18),
    ("E-510", "Rubber Stamp", 675, 44),
]
BOOK = [("cash", 12_000), ("bank", 250_000), ("cash", -3_500), ("card", -7_250), ("bank", -40_000), ("card", 999)]
LIMIT = 100_000  # models.Account.limit
SAMPLES = [12, 7, 3, 21, 7, 15, 9, 4]  # tests/test_stats.py's module-scoped fixture


def _percent(cents: int, rate: int) -> int:
    return cents * rate // 100


def _discount_rate(quantity: int) -> int:
    return max(0, min(40, quantity // 10 * 5))


def _total(cents: int, quantity: int, region: str) -> int:
    net = cents * quantity - _percent(cents * quantity, _discount_rate(quantity))
    return net + _percent(net, TAX_RATES[region])


def _amount(cents: int, currency: str) -> str:
    places = DECIMALS[currency]
    return f"{cents / 10**places:.{places}f} {currency}"


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _due_date(start: str, days: int) -> str:
    date = datetime.date.fromisoformat(start) + datetime.timedelta(days=days)
    while date.weekday() >= 5:
        date += datetime.timedelta(days=1)
    return date.isoformat()


def lit(items: list) -> str:
    """A list literal, one item a line."""
    return "[\n" + "".join(f"    {item!r},\n" for item in items) + "]"


def fill(template: str, **values: str) -> str:
    for name, value in values.items():
        template = template.replace(f"<<{name}>>", value)
    assert "<<" not in template, template
    return template


PACKAGE = {
    "ledger/__init__.py": '''"""ledger: a small bookkeeping package (the sample of benchmarks/affected.py)."""

__version__ = "1.0"
''',
    "ledger/core.py": '''"""Money in integer cents: every other module and every test uses it."""

import time

PAUSE_S = 0.005


def pause(seconds=None):
    """Stands for real work, so that each test takes a few milliseconds."""
    time.sleep(PAUSE_S if seconds is None else seconds)


def to_cents(euros):
    return int(round(euros * 100))


def from_cents(cents):
    return cents / 100


def percent(cents, rate):
    """rate percent of cents, rounded down."""
    return cents * rate // 100


def clamp(value, low, high):
    return max(low, min(high, value))


def split(cents, parts):
    """cents in parts that differ by at most one cent, the larger ones first."""
    base, extra = divmod(cents, parts)
    return [base + 1 if index < extra else base for index in range(parts)]
''',
    "ledger/config.py": f'''"""Settings; CURRENCIES is read when tests/test_config.py is imported, to parametrize it."""

CURRENCIES = {CURRENCIES!r}
DECIMALS = {DECIMALS!r}
SYMBOLS = {{"EUR": "EUR", "USD": "$", "GBP": "GBP", "JPY": "JPY", "CHF": "Fr."}}
TAX_RATES = {TAX_RATES!r}
REGIONS = tuple(TAX_RATES)
''',
    "ledger/decorators.py": '''"""Decorators that take arguments."""

import functools


def scaled(factor):
    """Multiply what the function returns by factor."""

    def wrap(function):
        @functools.wraps(function)
        def inner(*args, **kwargs):
            return function(*args, **kwargs) * factor

        return inner

    return wrap


def clamped(low, high):
    """Keep what the function returns between low and high."""

    def wrap(function):
        @functools.wraps(function)
        def inner(*args, **kwargs):
            return max(low, min(high, function(*args, **kwargs)))

        return inner

    return wrap
''',
    "ledger/pricing.py": '''"""Prices, discounts and taxes."""

from ledger import config, core
from ledger.decorators import clamped, scaled


@scaled(100)
def unit_price(euros):
    """A price in whole euros, as cents."""
    return euros


@clamped(0, 40)
def discount_rate(quantity):
    """5% per 10 items, at most 40%."""
    return quantity // 10 * 5


def discount(cents, quantity):
    return core.percent(cents, discount_rate(quantity))


def tax(cents, region):
    return core.percent(cents, config.TAX_RATES[region])


def total(cents, quantity, region):
    net = cents * quantity - discount(cents * quantity, quantity)
    return net + tax(net, region)
''',
    "ledger/models.py": '''"""Accounts and the book of entries."""


class Account:
    kind = "asset"
    limit = 100_000  # cents of overdraft

    def __init__(self, name, balance=0):
        self.name = name
        self.balance = balance

    def can_spend(self, cents):
        return self.balance + self.limit >= cents

    def deposit(self, cents):
        self.balance += cents

    def withdraw(self, cents):
        if not self.can_spend(cents):
            raise ValueError(f"{self.name}: cannot spend {cents}")
        self.balance -= cents


class SavingsAccount(Account):
    kind = "savings"
    limit = 0


class Book:
    def __init__(self):
        self.entries = []

    def add(self, account, cents, memo=""):
        self.entries.append((account, cents, memo))

    def balance(self, account):
        return sum(cents for name, cents, _ in self.entries if name == account)

    def accounts(self):
        return sorted({name for name, _, _ in self.entries})

    def total(self):
        return sum(cents for _, cents, _ in self.entries)
''',
    "ledger/textfmt.py": '''"""Text for people: amounts, padding, ordinals, titles."""

from ledger import config


def amount(cents, currency="EUR"):
    places = config.DECIMALS[currency]
    return f"{cents / 10**places:.{places}f} {currency}"


def pad(text, width=12, fill="."):
    return text.ljust(width, fill)


def ordinal(number):
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def title(words):
    return " ".join(word.capitalize() for word in words.split())
''',
    "ledger/parse.py": '''"""Reading amounts and lists typed by people."""

from ledger import config


def parse_amount(text):
    """'12.50 EUR' -> (1250, 'EUR'); the currency defaults to EUR."""
    separator = "."
    number, _, currency = text.strip().partition(" ")
    currency = currency or "EUR"
    places = config.DECIMALS[currency]
    whole, _, fraction = number.partition(separator)
    fraction = (fraction + "0" * places)[:places]
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 10**places + int(fraction or 0)), currency


def parse_list(text):
    """'a, b,,c' -> ['a', 'b', 'c']"""
    return [part.strip() for part in text.split(",") if part.strip()]
''',
    "ledger/stats.py": '''"""Summaries of lists of amounts."""


def mean(values):
    return sum(values) / len(values)


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def count_above(values, threshold):
    return sum(1 for value in values if value > threshold)


def spread(values):
    return max(values) - min(values)
''',
    "ledger/rates.py": '''"""Exchange rates, read from ledger/data/rates.json at each call (never cached)."""

import json
from pathlib import Path

DATA = Path(__file__).parent / "data" / "rates.json"


def load_rates():
    with DATA.open(encoding="utf-8") as stream:
        return json.load(stream)


def convert(cents, source, target):
    rates = load_rates()  # units per euro
    return round(cents / rates[source] * rates[target])
''',
    "ledger/catalog.py": '''"""The catalog, read from ledger/data/catalog.csv once, when the module is imported."""

import csv
from collections import namedtuple
from pathlib import Path

Item = namedtuple("Item", "sku name price_cents stock")
DATA = Path(__file__).parent / "data" / "catalog.csv"


def _load():
    with DATA.open(newline="", encoding="utf-8") as stream:
        return [Item(row["sku"], row["name"], int(row["price_cents"]), int(row["stock"]))
                for row in csv.DictReader(stream)]


ITEMS = _load()
BY_SKU = {item.sku: item for item in ITEMS}


def price(sku):
    return BY_SKU[sku].price_cents


def stock_value():
    return sum(item.price_cents * item.stock for item in ITEMS)
''',
    "ledger/dates.py": '''"""Calendar arithmetic for due dates."""

import datetime


def is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year, month):
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def due_date(start, days):
    """start: 'YYYY-MM-DD'; the date `days` later, moved off a weekend to the Monday."""
    date = datetime.date.fromisoformat(start) + datetime.timedelta(days=days)
    while date.weekday() >= 5:
        date += datetime.timedelta(days=1)
    return date.isoformat()
''',
    "ledger/units.py": f'''"""Units on invoices: distances, temperatures, weights."""

KM_PER_MILE = {KM_PER_MILE!r}
LB_PER_KG = {LB_PER_KG!r}


def miles_to_km(miles):
    return round(miles * KM_PER_MILE, 3)


def celsius_to_fahrenheit(celsius):
    return round(celsius * 9 / 5 + 32, 2)


def kg_to_lb(kg):
    return round(kg * LB_PER_KG, 3)
''',
    "ledger/cli.py": '''"""The `ledger` command. _banner runs only in a subprocess (tests/test_cli.py)."""

import sys

from ledger import __version__, core


def _banner():
    return f"ledger {__version__} ({core.to_cents(1)} cents to the euro)"


def parse_args(argv):
    command = argv[0] if argv else "help"
    return command, argv[1:]


def main(argv=None):
    command, rest = parse_args(sys.argv[1:] if argv is None else argv)
    if command == "banner":
        print(_banner())
        return 0
    if command == "sum":
        print(sum(int(value) for value in rest))
        return 0
    print("usage: ledger banner|sum N...")
    return 2
''',
}

CONFTEST = fill(
    '''"""Fixtures shared by the test modules."""

import pytest

from ledger import models

BOOK = <<book>>


@pytest.fixture
def book():
    book = models.Book()
    for account, cents in BOOK:
        book.add(account, cents)
    return book


@pytest.fixture
def account():
    return models.Account("main", balance=5_000)
''',
    book=lit(BOOK),
)

TEST_CORE = '''"""core: money in cents. (Every test of every module calls core.pause().)"""

import pytest

from ledger import core

TO_CENTS = <<to_cents>>
PERCENT = <<percent>>
SPLIT = <<split>>
CLAMP = <<clamp>>


@pytest.mark.parametrize(("euros", "cents"), TO_CENTS)
def test_to_cents(euros, cents):
    core.pause()
    assert core.to_cents(euros) == cents


@pytest.mark.parametrize(("cents", "rate", "expected"), PERCENT)
def test_percent(cents, rate, expected):
    core.pause()
    assert core.percent(cents, rate) == expected


@pytest.mark.parametrize(("cents", "parts"), SPLIT)
def test_split_adds_up(cents, parts):
    core.pause()
    shares = core.split(cents, parts)
    assert sum(shares) == cents
    assert max(shares) - min(shares) <= 1
    assert shares == sorted(shares, reverse=True)


@pytest.mark.parametrize(("value", "low", "high", "expected"), CLAMP)
def test_clamp(value, low, high, expected):
    core.pause()
    assert core.clamp(value, low, high) == expected


def test_from_cents():
    core.pause()
    assert core.from_cents(1250) == 12.5
'''

TEST_CONFIG = '''"""config: parametrize lists built from config.CURRENCIES when this module is imported."""

import pytest

from ledger import config, core


@pytest.mark.parametrize("currency", config.CURRENCIES)
def test_has_decimals(currency):
    core.pause()
    assert currency in config.DECIMALS


@pytest.mark.parametrize("currency", config.CURRENCIES)
def test_has_symbol(currency):
    core.pause()
    assert config.SYMBOLS[currency]


@pytest.mark.parametrize("currency", config.CURRENCIES)
def test_code_is_iso(currency):
    core.pause()
    assert len(currency) == 3 and currency.isupper()


@pytest.mark.parametrize("currency", config.CURRENCIES)
def test_decimals_in_range(currency):
    core.pause()
    assert config.DECIMALS[currency] in (0, 2)


@pytest.mark.parametrize("region", config.REGIONS)
def test_rate_in_range(region):
    core.pause()
    assert 0 < config.TAX_RATES[region] < 30
'''

TEST_MODELS = '''"""models: accounts (a class attribute, the overdraft limit) and the book."""

import pytest

from ledger import core
from ledger.models import Account, Book, SavingsAccount

SPEND = <<spend>>
SAVINGS = <<savings>>
DEPOSITS = <<deposits>>


@pytest.mark.parametrize(("balance", "cents", "expected"), SPEND)
def test_can_spend(balance, cents, expected):
    core.pause()
    assert Account("a", balance).can_spend(cents) is expected


@pytest.mark.parametrize(("balance", "cents", "expected"), SAVINGS)
def test_savings_cannot_overdraw(balance, cents, expected):
    core.pause()
    assert SavingsAccount("s", balance).can_spend(cents) is expected


@pytest.mark.parametrize(("first", "second"), DEPOSITS)
def test_deposit_then_withdraw(account, first, second):
    core.pause()
    account.deposit(first)
    account.withdraw(second)
    assert account.balance == 5_000 + first - second


def test_withdraw_beyond_the_limit_raises(account):
    core.pause()
    with pytest.raises(ValueError):
        account.withdraw(account.balance + Account.limit + 1)


def test_kinds():
    core.pause()
    assert (Account.kind, SavingsAccount.kind) == ("asset", "savings")


class TestBook:
    def make(self):
        book = Book()
        for account, cents in [("b", 5), ("a", 7), ("c", -2), ("a", 1)]:
            book.add(account, cents)
        return book

    def test_accounts_sorted(self):
        core.pause()
        assert self.make().accounts() == ["a", "b", "c"]

    def test_balance(self):
        core.pause()
        assert self.make().balance("a") == 8

    def test_total(self):
        core.pause()
        assert self.make().total() == 11

    def test_empty(self):
        core.pause()
        assert Book().accounts() == [] and Book().total() == 0
'''

TEST_PRICING = '''"""pricing: decorated functions (@scaled(100), @clamped(0, 40)), discounts, taxes."""

import pytest

from ledger import core, pricing

UNIT = <<unit>>
RATE = <<rate>>
DISCOUNT = <<discount>>
TAX = <<tax>>
TOTAL = <<total>>


@pytest.mark.parametrize("euros", UNIT)
def test_unit_price(euros):
    core.pause()
    assert pricing.unit_price(euros) == euros * 100


@pytest.mark.parametrize(("quantity", "expected"), RATE)
def test_discount_rate(quantity, expected):
    core.pause()
    assert pricing.discount_rate(quantity) == expected


@pytest.mark.parametrize(("cents", "quantity", "expected"), DISCOUNT)
def test_discount(cents, quantity, expected):
    core.pause()
    assert pricing.discount(cents, quantity) == expected


@pytest.mark.parametrize(("cents", "region", "expected"), TAX)
def test_tax(cents, region, expected):
    core.pause()
    assert pricing.tax(cents, region) == expected


@pytest.mark.parametrize(("cents", "quantity", "region", "expected"), TOTAL)
def test_total(cents, quantity, region, expected):
    core.pause()
    assert pricing.total(cents, quantity, region) == expected
'''

TEST_TEXTFMT = '''"""textfmt: amounts, padding (a default argument), ordinals, titles."""

import pytest

from ledger import core, textfmt

AMOUNTS = <<amounts>>
WORDS = <<words>>
ORDINALS = <<ordinals>>
TITLES = <<titles>>


@pytest.mark.parametrize(("cents", "currency", "expected"), AMOUNTS)
def test_amount(cents, currency, expected):
    core.pause()
    assert textfmt.amount(cents, currency) == expected


@pytest.mark.parametrize("word", WORDS)
def test_pad_to_the_default_width(word):
    core.pause()
    padded = textfmt.pad(word)
    assert len(padded) == 12 and padded.startswith(word)


@pytest.mark.parametrize("word", WORDS)
def test_pad_to_a_width(word):
    core.pause()
    assert textfmt.pad(word, 20, "-") == word + "-" * (20 - len(word))


@pytest.mark.parametrize(("number", "expected"), ORDINALS)
def test_ordinal(number, expected):
    core.pause()
    assert textfmt.ordinal(number) == expected


@pytest.mark.parametrize(("words", "expected"), TITLES)
def test_title(words, expected):
    core.pause()
    assert textfmt.title(words) == expected
'''

TEST_PARSE = '''"""parse: amounts and lists; the cases are literal parametrize data."""

import pytest

from ledger import core
from ledger.parse import parse_amount, parse_list


@pytest.mark.parametrize(
    ("text", "cents", "currency"),
    <<amounts>>,
)
def test_parse_amount(text, cents, currency):
    core.pause()
    assert parse_amount(text) == (cents, currency)


@pytest.mark.parametrize(("text", "expected"), <<lists>>)
def test_parse_list(text, expected):
    core.pause()
    assert parse_list(text) == expected


@pytest.mark.parametrize("text", ["", "EUR", "twelve EUR", "1.2.3 EUR"])
def test_parse_amount_refuses(text):
    core.pause()
    with pytest.raises((ValueError, KeyError)):
        parse_amount(text)
'''

TEST_STATS = '''"""stats: summaries, some of a costly module-scoped fixture."""

import pytest

from ledger import core, stats

MEDIANS = <<medians>>
ABOVE = <<above>>


@pytest.fixture(scope="module")
def samples():
    core.pause(0.05)  # a costly set-up, once for the module
    return <<samples>>


@pytest.mark.parametrize(("values", "expected"), MEDIANS)
def test_median(values, expected):
    core.pause()
    assert stats.median(values) == expected


@pytest.mark.parametrize(("values", "threshold", "expected"), ABOVE)
def test_count_above(values, threshold, expected):
    core.pause()
    assert stats.count_above(values, threshold) == expected


@pytest.mark.parametrize("size", range(1, 9))
def test_mean_of_equal_values(size):
    core.pause()
    assert stats.mean([size] * size) == size


def test_samples_mean(samples):
    core.pause()
    assert stats.mean(samples) == <<mean>>


def test_samples_median(samples):
    core.pause()
    assert stats.median(samples) == <<median>>


def test_samples_spread(samples):
    core.pause()
    assert stats.spread(samples) == <<spread>>


@pytest.mark.parametrize("threshold", [0, 5, 10, 20])
def test_samples_above(samples, threshold):
    core.pause()
    assert stats.count_above(samples, threshold) == len([value for value in samples if value > threshold])
'''

TEST_RATES = '''"""rates: conversions through ledger/data/rates.json, read at run time."""

import pytest

from ledger import config, core, rates

CONVERSIONS = <<conversions>>


@pytest.mark.parametrize(("cents", "source", "target", "expected"), CONVERSIONS)
def test_convert(cents, source, target, expected):
    core.pause()
    assert rates.convert(cents, source, target) == expected


@pytest.mark.parametrize("currency", config.CURRENCIES)
def test_every_currency_has_a_rate(currency):
    core.pause()
    assert rates.load_rates()[currency] > 0


@pytest.mark.parametrize("currency", config.CURRENCIES)
def test_converting_to_itself_keeps_the_amount(currency):
    core.pause()
    assert rates.convert(12_345, currency, currency) == 12_345
'''

TEST_CATALOG = '''"""catalog: parametrized by ledger/data/catalog.csv's rows, read when ledger.catalog is imported."""

import pytest

from ledger import catalog, core


@pytest.mark.parametrize("item", catalog.ITEMS, ids=lambda item: item.sku)
def test_price_is_positive(item):
    core.pause()
    assert item.price_cents > 0


@pytest.mark.parametrize("item", catalog.ITEMS, ids=lambda item: item.sku)
def test_name_is_a_title(item):
    core.pause()
    assert item.name == item.name.title()


@pytest.mark.parametrize("item", catalog.ITEMS, ids=lambda item: item.sku)
def test_sku_format(item):
    core.pause()
    letter, _, number = item.sku.partition("-")
    assert letter.isalpha() and number.isdigit()


@pytest.mark.parametrize("item", catalog.ITEMS, ids=lambda item: item.sku)
def test_lookup(item):
    core.pause()
    assert catalog.price(item.sku) == item.price_cents


def test_stock_value():
    core.pause()
    assert catalog.stock_value() == <<stock_value>>


def test_cheapest():
    core.pause()
    assert min(catalog.ITEMS, key=lambda item: item.price_cents).sku == "D-410"
'''

TEST_TAX_TABLE = '''"""Tax cases read from tests/data/tax_cases.csv when this module is imported; ids by row."""

import csv
from pathlib import Path

import pytest

from ledger import core, pricing

with open(Path(__file__).parent / "data" / "tax_cases.csv", newline="", encoding="utf-8") as stream:
    CASES = [(row["region"], int(row["cents"]), int(row["expected"])) for row in csv.DictReader(stream)]


@pytest.mark.parametrize(("region", "cents", "expected"), CASES, ids=[f"row{n}" for n in range(1, len(CASES) + 1)])
def test_tax(region, cents, expected):
    core.pause()
    assert pricing.tax(cents, region) == expected
'''

TEST_DATES = '''"""dates: leap years, month lengths, due dates off weekends."""

import pytest

from ledger import core
from ledger.dates import days_in_month, due_date, is_leap

LEAP = <<leap>>
MONTHS = <<months>>
DUE = <<due>>


@pytest.mark.parametrize(("year", "expected"), LEAP)
def test_is_leap(year, expected):
    core.pause()
    assert is_leap(year) is expected


@pytest.mark.parametrize(("year", "month", "expected"), MONTHS)
def test_days_in_month(year, month, expected):
    core.pause()
    assert days_in_month(year, month) == expected


@pytest.mark.parametrize(("start", "days", "expected"), DUE)
def test_due_date(start, days, expected):
    core.pause()
    assert due_date(start, days) == expected
'''

TEST_UNITS = '''"""units: distances, temperatures, weights."""

import pytest

from ledger import core, units

MILES = <<miles>>
CELSIUS = <<celsius>>
KILOGRAMS = <<kilograms>>


@pytest.mark.parametrize(("miles", "km"), MILES)
def test_miles_to_km(miles, km):
    core.pause()
    assert units.miles_to_km(miles) == km


@pytest.mark.parametrize(("celsius", "fahrenheit"), CELSIUS)
def test_celsius_to_fahrenheit(celsius, fahrenheit):
    core.pause()
    assert units.celsius_to_fahrenheit(celsius) == fahrenheit


@pytest.mark.parametrize(("kg", "lb"), KILOGRAMS)
def test_kg_to_lb(kg, lb):
    core.pause()
    assert units.kg_to_lb(kg) == lb


def test_marathon():
    core.pause()
    assert units.miles_to_km(26.2188) == <<marathon>>
'''

TEST_CLI = '''"""cli: one test runs `python -c` importing the package; the others call it in-process."""

import subprocess
import sys
from pathlib import Path

import pytest

from ledger import cli, core

ROOT = Path(__file__).resolve().parent.parent


def test_banner_in_a_subprocess():
    code = "import sys; from ledger import cli; sys.exit(cli.main(['banner']))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ledger 1.0 (100 cents to the euro)"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [([], ("help", [])), (["sum"], ("sum", [])), (["sum", "1", "2"], ("sum", ["1", "2"])), (["x"], ("x", []))],
)
def test_parse_args(argv, expected):
    core.pause()
    assert cli.parse_args(argv) == expected


@pytest.mark.parametrize(("values", "expected"), [(["1", "2"], "3"), (["10", "-4"], "6"), ([], "0")])
def test_sum(capsys, values, expected):
    core.pause()
    assert cli.main(["sum", *values]) == 0
    assert capsys.readouterr().out.strip() == expected


def test_usage(capsys):
    core.pause()
    assert cli.main(["nothing"]) == 2
    assert capsys.readouterr().out.startswith("usage:")
'''

TEST_BOOK = '''"""The book of tests/conftest.py's `book` fixture."""

import pytest

from ledger import core

BALANCES = <<balances>>


@pytest.mark.parametrize(("account", "expected"), BALANCES)
def test_balance(book, account, expected):
    core.pause()
    assert book.balance(account) == expected


def test_accounts(book):
    core.pause()
    assert book.accounts() == <<accounts>>


def test_total(book):
    core.pause()
    assert book.total() == <<total>>


@pytest.mark.parametrize("parts", [2, 3, 4, 7])
def test_total_splits_evenly(book, parts):
    core.pause()
    assert sum(core.split(book.total(), parts)) == book.total()


def test_entries(book):
    core.pause()
    assert len(book.entries) == <<entries>>
'''

TEST_INTEGRATION = '''"""Invoice lines through parse, pricing and textfmt; shipping weights through units."""

import pytest

from ledger import core, parse, pricing, textfmt, units

LINES = <<lines>>
WEIGHTS = <<weights>>


@pytest.mark.parametrize(("text", "quantity", "region", "expected"), LINES)
def test_invoice_line(text, quantity, region, expected):
    core.pause()
    cents, currency = parse.parse_amount(text)
    assert textfmt.amount(pricing.total(cents, quantity, region), currency) == expected


@pytest.mark.parametrize(("kg", "label"), WEIGHTS)
def test_shipping_label(kg, label):
    core.pause()
    assert textfmt.pad(f"{units.kg_to_lb(kg)} lb", 16) == label
'''


def make_files() -> dict[str, str]:
    """Every file of the sample project, by path (deterministic)."""
    rng = random.Random(20240601)
    regions = list(TAX_RATES)
    files = dict(PACKAGE)
    files["pytest.ini"] = "[pytest]\ntestpaths = tests\npythonpath = .\n"
    files[".gitignore"] = "__pycache__/\n.pytest_cache/\n.testmondata*\n.coverage*\n"
    files["ledger/data/rates.json"] = json.dumps(RATES, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([("sku", "name", "price_cents", "stock"), *CATALOG])
    files["ledger/data/catalog.csv"] = out.getvalue()
    tax_rows = [(regions[n % len(regions)], rng.randrange(100, 100_000)) for n in range(30)]
    files["tests/data/tax_cases.csv"] = "region,cents,expected\n" + "".join(
        f"{region},{cents},{_percent(cents, TAX_RATES[region])}\n" for region, cents in tax_rows
    )
    files["tests/__init__.py"] = ""
    files["tests/conftest.py"] = CONFTEST

    euros = [round(rng.uniform(0, 500), 2) for _ in range(16)]
    percent = [
        (c, r, _percent(c, r)) for c, r in ((rng.randrange(-5_000, 90_000), rng.randrange(1, 60)) for _ in range(20))
    ]
    files["tests/test_core.py"] = fill(
        TEST_CORE,
        to_cents=lit([(e, round(e * 100)) for e in euros]),
        percent=lit(percent),
        split=lit([(rng.randrange(0, 10_000), rng.randrange(1, 9)) for _ in range(12)]),
        clamp=lit([(v, 0, 100, max(0, min(100, v))) for v in (-50, -1, 0, 1, 50, 99, 100, 101)]),
    )
    files["tests/test_config.py"] = TEST_CONFIG

    spend = []
    for balance in (0, 5_000, 20_000, 50_000):
        for extra in (5_000, 40_000, LIMIT, LIMIT + 1, -1_000):
            spend.append((balance, balance + extra, balance + LIMIT >= balance + extra))
    savings = [(b, c, b >= c) for b, c in ((rng.randrange(0, 9_000), rng.randrange(0, 9_000)) for _ in range(10))]
    deposits = [(rng.randrange(0, 20_000), rng.randrange(0, 50_000)) for _ in range(12)]
    files["tests/test_models.py"] = fill(TEST_MODELS, spend=lit(spend), savings=lit(savings), deposits=lit(deposits))

    quantities = [0, 1, 9, 10, 19, 20, 35, 49, 50, 61, 70, 75, 80, 85, 99, 100, 120, 250]
    discount = [
        (c, q, _percent(c, _discount_rate(q)))
        for c, q in ((rng.randrange(100, 20_000), rng.choice(quantities)) for _ in range(12))
    ]
    tax = [
        (c, r, _percent(c, TAX_RATES[r]))
        for c, r in ((rng.randrange(100, 50_000), rng.choice(regions)) for _ in range(12))
    ]
    totals = []
    for _ in range(12):
        cents, quantity, region = rng.randrange(100, 5_000), rng.choice(quantities), rng.choice(regions)
        totals.append((cents, quantity, region, _total(cents, quantity, region)))
    files["tests/test_pricing.py"] = fill(
        TEST_PRICING,
        unit=lit([0, 1, 2, 5, 9, 12, 50, 99, 250, 1000]),
        rate=lit([(q, _discount_rate(q)) for q in quantities]),
        discount=lit(discount),
        tax=lit(tax),
        total=lit(totals),
    )

    amounts = [(rng.randrange(-10_000, 1_000_000), rng.choice(CURRENCIES)) for _ in range(14)]
    words = ["cash", "bank", "invoice", "tax", "ledger", "EUR", "total", "net", "a", "due date"]
    titles = ["the ledger", "paper clips", "a  b", "DESK lamp", "x", "net total due"]
    files["tests/test_textfmt.py"] = fill(
        TEST_TEXTFMT,
        amounts=lit([(c, cur, _amount(c, cur)) for c, cur in amounts]),
        words=lit(words),
        ordinals=lit([(n, _ordinal(n)) for n in (1, 2, 3, 4, 10, 11, 12, 13, 14, 20, 21, 22, 23, 101, 111, 112, 1003)]),
        titles=lit([(t, " ".join(w.capitalize() for w in t.split())) for t in titles]),
    )

    parse_cases = [
        ("12.50 EUR", 1250, "EUR"),
        ("12 EUR", 1200, "EUR"),
        ("0.5", 50, "EUR"),
        ("-3.25 USD", -325, "USD"),
        ("1000 JPY", 1000, "JPY"),
        ("7.05 GBP", 705, "GBP"),
        ("19.99 CHF", 1999, "CHF"),
        ("3", 300, "EUR"),
        ("0.01 USD", 1, "USD"),
        ("250.1 EUR", 25010, "EUR"),
        ("-0.50", -50, "EUR"),
        ("42 CHF", 4200, "CHF"),
        ("8.8 GBP", 880, "GBP"),
        ("99.99", 9999, "EUR"),
        ("1 USD", 100, "USD"),
        ("64 JPY", 64, "JPY"),
    ]
    lists = [
        ("a, b,,c", ["a", "b", "c"]),
        ("", []),
        ("x", ["x"]),
        (" one ,two ", ["one", "two"]),
        (",,", []),
        ("EUR,USD", ["EUR", "USD"]),
        ("1, 2, 3", ["1", "2", "3"]),
        ("a b, c", ["a b", "c"]),
    ]
    files["tests/test_parse.py"] = fill(TEST_PARSE, amounts=lit(parse_cases).replace("\n", "\n    "), lists=repr(lists))

    medians = [sorted(rng.randrange(0, 100) for _ in range(rng.randrange(1, 9))) for _ in range(10)]
    medians = [list(rng.sample(v, len(v))) for v in medians]

    def median(values: list[int]) -> float:
        ordered, middle = sorted(values), len(values) // 2
        return ordered[middle] if len(values) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    above = []
    for _ in range(12):
        values = [rng.randrange(0, 20) for _ in range(8)]
        threshold = rng.choice(values)  # a value equal to the threshold is not above it
        above.append((values, threshold, sum(1 for v in values if v > threshold)))
    files["tests/test_stats.py"] = fill(
        TEST_STATS,
        medians=lit([(v, median(v)) for v in medians]),
        above=lit(above),
        samples=repr(SAMPLES),
        mean=repr(sum(SAMPLES) / len(SAMPLES)),
        median=repr(median(SAMPLES)),
        spread=repr(max(SAMPLES) - min(SAMPLES)),
    )

    conversions = []
    for n in range(15):
        cents, source, target = rng.randrange(100, 500_000), CURRENCIES[n % 5], CURRENCIES[(n * 2 + 1) % 5]
        conversions.append((cents, source, target, round(cents / RATES[source] * RATES[target])))
    files["tests/test_rates.py"] = fill(TEST_RATES, conversions=lit(conversions))

    files["tests/test_catalog.py"] = fill(TEST_CATALOG, stock_value=repr(sum(p * s for _, _, p, s in CATALOG)))
    files["tests/test_tax_table.py"] = TEST_TAX_TABLE

    leap = [(y, _is_leap(y)) for y in (1600, 1700, 1800, 1900, 1996, 1999, 2000, 2004, 2023, 2024, 2100, 2400)]
    months = [(y, m, _days_in_month(y, m)) for y in (2023, 2024) for m in range(1, 13)]
    due = []
    for _ in range(12):
        start = (datetime.date(2024, 1, 1) + datetime.timedelta(days=rng.randrange(0, 365))).isoformat()
        days = rng.randrange(0, 60)
        due.append((start, days, _due_date(start, days)))
    files["tests/test_dates.py"] = fill(TEST_DATES, leap=lit(leap), months=lit(months), due=lit(due))

    files["tests/test_units.py"] = fill(
        TEST_UNITS,
        miles=lit([(m, round(m * KM_PER_MILE, 3)) for m in (0, 1, 2.5, 10, 13.1, 26.2, 100, 0.3)]),
        celsius=lit([(c, round(c * 9 / 5 + 32, 2)) for c in (-40, -10, 0, 4.5, 20, 21.3, 37, 100, 250, -273.15)]),
        kilograms=lit([(k, round(k * LB_PER_KG, 3)) for k in (0, 1, 2.5, 10, 0.2, 75, 1000, 12.34)]),
        marathon=repr(round(26.2188 * KM_PER_MILE, 3)),
    )
    files["tests/test_cli.py"] = TEST_CLI

    balances: dict[str, int] = {}
    for account, cents in BOOK:
        balances[account] = balances.get(account, 0) + cents
    files["tests/test_book.py"] = fill(
        TEST_BOOK,
        balances=lit([*sorted(balances.items()), ("nobody", 0)]),
        accounts=repr(sorted(balances)),
        total=repr(sum(balances.values())),
        entries=repr(len(BOOK)),
    )

    lines = []
    for _ in range(16):
        currency = rng.choice(CURRENCIES)
        cents = rng.randrange(100, 50_000) if DECIMALS[currency] else rng.randrange(1, 5_000)
        text = f"{cents // 100}.{cents % 100:02d} {currency}" if DECIMALS[currency] else f"{cents} {currency}"
        quantity, region = rng.choice(quantities), rng.choice(regions)
        lines.append((text, quantity, region, _amount(_total(cents, quantity, region), currency)))
    weights = [(k, f"{round(k * LB_PER_KG, 3)} lb".ljust(16, ".")) for k in (0.5, 1, 3, 12.5)]
    files["tests/test_integration.py"] = fill(TEST_INTEGRATION, lines=lit(lines), weights=lit(weights))
    return files
