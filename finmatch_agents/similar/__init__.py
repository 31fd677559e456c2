"""Find customers like these (the similarity search, seed 001): exact constraints compiled by the semantic
layer, the semantic part ranked by embeddings of the customers' text (or BM25 without the embedding extra),
look-alikes of a customer or of a group. ``finmatch_agents.similar.api`` is the entry point for the CLI, the
chat and the HTTP server."""
