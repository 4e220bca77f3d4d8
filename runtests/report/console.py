"""The console every terminal writer writes to, and what they share: plain text never read as markup, headings."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from runtests.results import COUNT_KEYS

# The colour of each count, in the phase lines, the table and the per-test lines.
STYLE = {key: "green" if key == "passed" else "yellow" if key in ("skipped", "xfailed", "xpassed") else "red"
         for key in COUNT_KEYS}  # fmt: skip


def make_console(color: str, live: bool = False) -> Console:
    """`never`: no colour at all; `always`: colour even into a pipe; `auto`: rich decides (and honours NO_COLOR).
    No emoji codes: a test id such as `test_x[:fire:]` is printed as it is. Plain output (no live view: a pipe, CI)
    is never wrapped, so that a line, and a node id in it, stays whole for grep."""
    settings: dict[str, object] = {"highlight": False, "emoji": False, "soft_wrap": not live}
    if color == "never":
        settings |= {"no_color": True, "color_system": None}
    elif color == "always":
        settings["force_terminal"] = True
    return Console(**settings)  # type: ignore[arg-type]


class Writer:
    """Writes to a console: markup where runtests' own words want colour (`print`), plain text everywhere else."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def print(self, *parts: object, **kwargs: object) -> None:
        self.console.print(*parts, highlight=False, **kwargs)  # type: ignore[arg-type]

    def say(self, text: str, style: str | None = None) -> None:
        """A line of plain text: no markup read in it (a node id's `[param]` is no tag), never wrapped."""
        self.print(Text(text, style=style or ""), soft_wrap=True)

    def out(self, text: str) -> None:
        """Text as it is (pytest's failure texts, captured output): no markup, no styling."""
        self.console.out(text, highlight=False)

    def heading(self, title: str, style: str, mark: str = "__") -> None:
        """A section title that never truncates the node id (a rule would, at the console's width)."""
        self.say(f"{mark} {title} {mark}", style)
