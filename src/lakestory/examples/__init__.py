"""The bundled example project (``lakestory init``) and its sample data."""

from __future__ import annotations

import shutil
from pathlib import Path

from lakestory.examples.sample_data import generate

DEMO_DIR = Path(__file__).parent / "demo"


def create_example(target: Path, customers: int = 60, orders: int = 400, seed: int = 42) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("lakestory.yaml", "transforms.py"):
        shutil.copyfile(DEMO_DIR / name, target / name)
    (target / ".gitignore").write_text("data/lake/\n.lakestory/\n__pycache__/\n")
    generate(target / "data" / "raw", customers=customers, orders=orders, seed=seed)
    _warm_sql_cache(target / "lakestory.yaml")


def _warm_sql_cache(project_file: Path) -> None:
    """Parse the example's SQL once now, so its first validate needs no sqlglot import."""
    from lakestory.api import Project

    project = Project.load(project_file)
    project.validate()
    project.sql_cache.save()
