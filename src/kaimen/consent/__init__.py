"""Consents as the customer sees them: the dashboard behind login + SCA that lists every TPP holding
access and lets the customer revoke it (DESIGN.md: "consent/ consent resources, lifecycle, customer
dashboard").

Modules: ``models`` (the dashboard session table), ``sessions`` (the session: cookie, steps, CSRF, idle
timeout), ``holdings`` (what each TPP holds, from every consent kind, the ledger and the audit log),
``pages`` (HTML), ``routes`` (the endpoints and their gateway entry). This module imports none of
them, so kaimen.store.models can register the table without an import cycle.
"""
