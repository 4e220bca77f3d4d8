"""One module per command: run, diagnose, combine; the run context they share."""
