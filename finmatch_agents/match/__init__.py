"""Product matching (issue 13, source document 003): suitability gates, then Mahalanobis (active) or weighted
vector (passive) distance to each product, refined by the customer's preferences; ``match run`` writes the
versioned ``matches`` table and ``match evaluate`` backtests it on a time holdout."""
