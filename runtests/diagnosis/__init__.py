"""Reading the results for causes: suspects, guarantees, replays and the driver that runs them."""
