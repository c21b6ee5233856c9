"""Observers of the run: logs (and, later, lineage and metrics)."""
