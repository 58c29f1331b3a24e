"""The runners dashboard: server-rendered pages over the same domain functions, sessions
and permission checks as the API (web/pages.py lists every page and what it needs)."""
