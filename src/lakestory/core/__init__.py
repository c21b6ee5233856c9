"""Errors, the generic DAG and small shared helpers. Imports nothing else of lakestory."""
