"""What a benchmark measured against a target, kept as data: each script prints its own table and, given
`--figures FILE`, also writes its figures there as JSON, which bench_all.py puts side by side for every
size it ran (issue 14, item 6: every figure, measured in one run, at 100,000 and 1,000,000 customers).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One measured figure: `shown` is how the script printed it (`3.26 s`, `1.63x`), `target` the goal in
    words (`>= 4x`), `met` None where there is no target (a figure printed for the record)."""

    item: str  # the item it answers, e.g. "3"
    name: str
    value: float
    shown: str
    target: str = ""
    met: bool | None = None


class Figures:
    """The figures of one script's run, in the order measured."""

    def __init__(self) -> None:
        self.items: list[Figure] = []

    def add(self, item: str, name: str, value: float, shown: str, target: str = "",
            met: bool | None = None) -> None:
        # bool(): numpy's comparisons give numpy booleans, which json does not take.
        self.items.append(Figure(item, name, float(value), shown, target, None if met is None else bool(met)))

    def write(self, path: Path | None) -> None:
        """Write them to `path` as JSON (nothing when no path was asked for)."""
        if path is not None:
            path.write_text(json.dumps([asdict(f) for f in self.items], indent=1) + "\n", encoding="utf-8")


def read(path: Path) -> list[Figure]:
    return [Figure(**record) for record in json.loads(path.read_text(encoding="utf-8"))]


def verdict(met: bool | None) -> str:
    return "" if met is None else ("PASS" if met else "MISS")
