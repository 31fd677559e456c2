"""Defaults of the embedded dataset (kept apart from the generator so the CLI can show them without NumPy)."""

DEFAULT_CUSTOMERS = 25_000
DEFAULT_SEED = 42
