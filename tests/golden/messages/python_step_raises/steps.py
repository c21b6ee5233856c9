import pyarrow as pa


def ensure_below(amounts, limit):
    for amount in amounts:
        if amount > limit:
            raise ValueError(f"amount {amount} is above the limit {limit}")


def check_amounts(df, limit):
    amounts = pa.table(df).column("amount").to_pylist()
    ensure_below(amounts, limit)
    return df
