"""Language-model side: the analyst interface, the deterministic offline analyst, grounding checks."""
