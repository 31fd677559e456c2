"""FinMatch Agents: a terminal analyst for retail banks' product-recommendation data."""

__version__ = "0.1.0"
