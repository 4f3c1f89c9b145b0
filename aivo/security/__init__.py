"""API keys with scopes, and the limits that bound what one key can consume."""
