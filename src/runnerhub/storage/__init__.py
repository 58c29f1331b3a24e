"""Persistence: tables, migrations, and the repositories the domain talks to."""
