"""State that several requests share beyond one transaction: rate-limit counters and the
mailboxes long polls wait in.

Each lives behind a small protocol with an in-memory implementation for one process (the
SQLite default). Several instances on one PostgreSQL will swap in implementations backed by
the database (counters in a table, wake-ups over LISTEN/NOTIFY) without the callers changing.
"""
