"""Thin commands over the same domain functions the API uses."""
