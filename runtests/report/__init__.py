"""Renderers of a run: the terminal (rich) and the JSON report. They format numbers; they never compute them."""
