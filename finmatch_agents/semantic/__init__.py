"""The semantic model of the data and the question compiler built on it (measures, dimensions, time)."""
