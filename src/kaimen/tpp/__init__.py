"""The TPP registry: organisations, their applications (review status, tier, contacts) and API keys."""
