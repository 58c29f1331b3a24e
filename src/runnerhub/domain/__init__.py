"""Decisions: what runners, labels, tokens and scopes may do. No HTTP here."""
