"""Secret providers and the redactor."""
