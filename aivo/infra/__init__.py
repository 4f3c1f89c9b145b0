"""Clients of shared infrastructure, one place each: S3, Redis and the breaker that guards it."""
