"""Promote for HTTP targets: compute the change set against a mirror of the API and push it."""
