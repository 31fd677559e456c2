"""Thin shim: ``python cli.py ...`` is the same as ``finmatch ...``."""

from finmatch_agents.cli import main

if __name__ == "__main__":
    main()
