"""The DuckDB engine (the default)."""
