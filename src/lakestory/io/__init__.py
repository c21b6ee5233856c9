"""Connections (where data lives) and formats (how it is encoded)."""
