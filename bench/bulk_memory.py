"""Memory of reading a bulk upload: the peak Python allocation (tracemalloc) of the catalog's
two passes over a file (`scan`, then cutting every stored chunk with `chunks`), for files of
growing size in each format. The chunks are consumed as they are cut, as `create_job` stores
them a few at a time.

    .venv/bin/python bench/bulk_memory.py [--rows 20000 100000 400000]

Two kinds of file: distinct SKUs (what a catalog export is; the SKU index grows with the
rows), and one SKU repeated (the index stays one entry: what is left is the reading itself).
"""

from __future__ import annotations

import argparse
import io
import json
import time
import tracemalloc
from collections.abc import Callable

from commerce_catalog.bulk_files import chunks, scan


def csv_file(n: int, sku: Callable[[int], str]) -> bytes:
    head = "sku,name,description,price,stock,is_active\n"
    rows = (
        f"{sku(i)},Product {i},Bench product number {i},{i % 900 + 1}.99,{i % 40},true\n"
        for i in range(n)
    )
    return (head + "".join(rows)).encode()


def jsonl_file(n: int, sku: Callable[[int], str]) -> bytes:
    return b"".join(
        json.dumps({"sku": sku(i), "name": f"Product {i}", "price": f"{i % 900 + 1}.99"}).encode()
        + b"\n"
        for i in range(n)
    )


def json_file(n: int, sku: Callable[[int], str]) -> bytes:
    return json.dumps(
        [{"sku": sku(i), "name": f"Product {i}", "price": f"{i % 900 + 1}.99"} for i in range(n)]
    ).encode()


def measure(data: bytes, fmt: str) -> tuple[float, float, int]:
    """(peak MiB, seconds, chunks) of both passes over `data`."""
    file = io.BytesIO(data)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    scanned = scan(file, fmt, 10**7)
    file.seek(0)
    count = sum(1 for _ in chunks(file, scanned, 1000))
    took = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak / 2**20, took, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000, 400_000])
    args = parser.parse_args()
    print("| format | SKUs | rows | file MiB | peak MiB | s | chunks |")
    print("|---|---|---:|---:|---:|---:|---:|")
    kinds = {"distinct": lambda i: f"SKU-{i:08d}", "one": lambda i: "SKU-SAME"}
    for fmt, make in (("csv", csv_file), ("jsonl", jsonl_file), ("json", json_file)):
        for kind, sku in kinds.items():
            for n in args.rows:
                data = make(n, sku)
                peak, took, count = measure(data, fmt)
                size = len(data) / 2**20
                print(
                    f"| {fmt} | {kind} | {n:,} | {size:.1f} | {peak:.1f} | {took:.2f} | {count} |"
                )
                del data


if __name__ == "__main__":
    main()
