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
