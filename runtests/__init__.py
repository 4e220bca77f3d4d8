"""runtests: one command for a parallel pytest-xdist phase, a serial phase after it, and one report."""

__version__ = "1.0.0"
