"""The buyer REST API under /api/v1/: API-key authentication, scopes, idempotency."""
