"""A process-wide token-usage logger backed by one SQLite file, initialised at import time."""

from __future__ import annotations

import sqlite3
import threading

DATABASE_URL = "sqlite:///./test_token_usage.db"


class TokenUsageLogger:
    """One instance per process; every process shares the same database file."""

    _instance: TokenUsageLogger | None = None
    _lock = threading.Lock()

    def __init__(self, url: str) -> None:
        self.path = url.removeprefix("sqlite:///")
        with self.connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS usage (model TEXT NOT NULL, tokens INTEGER NOT NULL)")

    @classmethod
    def instance(cls) -> TokenUsageLogger:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls(DATABASE_URL)
            return cls._instance

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def log(self, model: str, tokens: int) -> None:
        with self.connect() as db:
            db.execute("INSERT INTO usage (model, tokens) VALUES (?, ?)", (model, tokens))

    def count(self) -> int:
        with self.connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM usage").fetchone()[0])

    def total_tokens(self) -> int:
        with self.connect() as db:
            return int(db.execute("SELECT COALESCE(SUM(tokens), 0) FROM usage").fetchone()[0])

    def clear(self) -> None:
        with self.connect() as db:
            db.execute("DELETE FROM usage")


# Module-level initialisation, as in the original code base: importing the module creates the table.
logger = TokenUsageLogger.instance()
