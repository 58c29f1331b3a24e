"""State that several requests share beyond one transaction: rate-limit counts and the
mailboxes long polls wait in.

Each lives behind a small protocol (ratelimit.RateLimiter, mailboxes.Mailboxes). On SQLite,
one process, the implementations are in memory; on PostgreSQL, where several server
instances may share the database, they are shared through it: counts synced to a table
(shared_ratelimit.py), wake-ups over LISTEN/NOTIFY (wakeups.py). app.py picks them by the
database URL; the callers do not know which they have.
"""
