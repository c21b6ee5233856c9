"""Shared pieces of the redaction canary tests: a Python step module that logs and raises
with a secret it was given, and the kinds of files a run writes that are read for leaks."""

STEPS = """
import logging

log = logging.getLogger("lakestory.steps")


def announce(df, password):
    log.warning("connecting with password %s", password)
    return df


def fail(df, password):
    raise ValueError(f"login refused for {password}")
"""

TEXT_SUFFIXES = {".json", ".jsonl", ".log", ".txt", ".html", ".yaml", ".yml", ".md", ".csv"}
