"""Summarize a py-spy collapsed profile (`py-spy record --format raw`): the share of samples
under each package and each project function (inclusive), and the hottest leaf frames.

    python bench/profiles/summarize.py bench/profiles/checkout-server-2026-12-02.collapsed.gz
"""

from __future__ import annotations

import collections
import gzip
import re
import sys


def main(path: str, top: int = 25) -> None:
    opener = gzip.open if path.endswith(".gz") else open
    total = 0
    packages: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    with opener(path, "rt") as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            n = int(count)
            frames = stack.split(";")[1:]  # the first is the process
            total += n
            seen: set[str] = set()
            for frame in frames:
                where = re.search(r"\(([^)]+)\)", frame)
                file = where.group(1) if where else ""
                package = file.split("/")[0] if "/" in file else file
                if package not in seen:
                    packages[package] += n
                    seen.add(package)
                if file.startswith("commerce_"):
                    key = f"{frame.split(' (')[0]} {file}"
                    if key not in seen:
                        ours[key] += n
                        seen.add(key)
            if frames:
                leaves[frames[-1]] += n
    print(f"{total} samples")
    for title, counter in (("packages", packages), ("project frames", ours), ("leaves", leaves)):
        print(f"--- {title} ---")
        for key, n in counter.most_common(top):
            print(f"{100 * n / total:5.1f}%  {key}")


if __name__ == "__main__":
    main(sys.argv[1])
