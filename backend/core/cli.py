"""What management commands share: progress bars and plain-text tables.

Bars go to stderr, so a command's stdout (a table, `--json`) stays parseable, and only when stderr is a
terminal (a log or CI output gets the command's own lines, not bar redraws); `--quiet` turns them off.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

# How services report progress without knowing who listens: (done, total or None when unknown).
ProgressCallback = Callable[[int, "int | None"], None]


def add_quiet_argument(parser) -> None:
    parser.add_argument("--quiet", action="store_true", help="No progress bars (for scripts and logs).")


@contextmanager
def progress_bar(*, desc: str, total: int | None = None, unit: str = "it", quiet: bool = False) -> Iterator[tqdm]:
    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=quiet or not sys.stderr.isatty(),
               dynamic_ncols=True, mininterval=0.5)
    try:
        yield bar
    finally:
        bar.close()


def progress_callback(bar: tqdm) -> ProgressCallback:
    """A service's (done, total) reports moved onto `bar`."""

    def report(done: int, total: int | None = None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return report


def text_table(rows: list[tuple[str, ...]]) -> str:
    """Rows of strings as left-aligned columns; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
