"""Transform steps: SQL front end and step implementations."""
