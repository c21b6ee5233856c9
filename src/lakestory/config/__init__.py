"""YAML loading with line numbers, ``${...}`` resolution, environments, and the typed models."""
