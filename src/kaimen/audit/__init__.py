"""The audit trail: one hash-chained, append-only record per API call."""
