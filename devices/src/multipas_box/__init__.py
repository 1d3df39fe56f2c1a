"""Multipas card-reader box: readers, offline journal, allow-list, relay, sync with Odoo."""

__version__ = "0.1.0"
