"""An upsert written by hand with deltalake: what lakestory's ``mode: upsert`` is measured against.

Reads the batch (a Parquet file) into a pyarrow table and MERGEs it into the Delta table by
key in one commit, the way the deltalake documentation shows it: update every matched row,
insert the rest. Prints the merge's metrics as JSON.

    python bench/baseline_upsert.py --table DIR/table --batch DIR/batch.parquet --key id
"""

from __future__ import annotations

import argparse
import json
import sys

import pyarrow.parquet as pq
from deltalake import DeltaTable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="the Delta table to upsert into")
    parser.add_argument("--batch", required=True, help="a Parquet file of the rows to upsert")
    parser.add_argument("--key", default="id", help="the key column")
    args = parser.parse_args(argv)

    batch = pq.read_table(args.batch)
    metrics = (
        DeltaTable(args.table)
        .merge(
            batch,
            f'target."{args.key}" = source."{args.key}"',
            source_alias="source",
            target_alias="target",
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    print(json.dumps(metrics, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
