"""Use cases: domain logic plus models; each owns its transaction's commit."""
