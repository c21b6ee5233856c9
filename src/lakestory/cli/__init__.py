"""The command line: a thin shell over :mod:`lakestory.api`."""
