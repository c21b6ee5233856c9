"""Deterministic sample customers and orders, with the dirt real feeds have.

Customers: some names with stray spaces and mixed case, some emails missing or in upper
case, a few minors, some missing statuses. Orders, split into one CSV per month: some with
a non-positive amount or zero quantity, some of customers that silver filters out.
"""

from __future__ import annotations

import csv
import random
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Radia",
    "Ken",
    "Margaret",
    "Tim",
    "Linus",
    "Guido",
    "Anita",
    "Dennis",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Perlman",
    "Thompson",
    "Hamilton",
    "Berners-Lee",
    "Torvalds",
    "Rossum",
    "Borg",
]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "IN", "BR", "JP"]
STATUSES = ["active", "Active", "INACTIVE", "inactive", None]


def generate(
    raw_dir: Path, customers: int = 60, orders: int = 400, seed: int = 42, months: int = 3
) -> None:
    rng = random.Random(seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    with open(raw_dir / "customers.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["customer_id", "name", "email", "age", "status", "country"])
        for cid in range(1, customers + 1):
            w.writerow(_customer(rng, cid))
    order_dir = raw_dir / "orders"
    order_dir.mkdir(exist_ok=True)
    start = date(2024, 1, 1)
    with ExitStack() as stack:
        writers = []
        for m in range(months):
            path = order_dir / f"orders_2024_{m + 1:02d}.csv"
            writer = csv.writer(stack.enter_context(open(path, "w", newline="", encoding="utf-8")))
            writer.writerow(["order_id", "customer_id", "amount", "quantity", "order_date"])
            writers.append(writer)
        for oid in range(1, orders + 1):
            day = start + timedelta(days=rng.randrange(months * 30))
            month = min((day.year - 2024) * 12 + day.month - 1, months - 1)
            writers[month].writerow(_order(rng, oid, customers, day))


def _customer(rng: random.Random, cid: int) -> list[object]:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if rng.random() < 0.2:
        name = f"  {name.lower()} "
    address = f"{name.strip().lower().replace(' ', '.')}{cid}@example.com"
    roll = rng.random()
    email = None if roll < 0.05 else f" {address.upper()}" if roll < 0.2 else address
    age = rng.randrange(14, 80)
    return [cid, name, email, age, rng.choice(STATUSES), rng.choice(COUNTRIES)]


def _order(rng: random.Random, oid: int, customers: int, day: date) -> list[object]:
    amount = round(rng.uniform(5, 500), 3)
    if rng.random() < 0.03:
        amount = -amount
    quantity = rng.randrange(0, 6) if rng.random() < 0.05 else rng.randrange(1, 6)
    return [oid, rng.randrange(1, customers + 1), amount, quantity, day.isoformat()]
