"""Evidence computed in Python before policy evaluation (signatures, attestations, statistics)."""
