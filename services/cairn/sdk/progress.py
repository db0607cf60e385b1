"""Progress over bytes (hashing, upload, download), on stderr so stdout stays for output.

`show=None` means "only when it is worth watching": more than LARGE bytes in total, and
someone watching (a terminal or a notebook, not a log file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

LARGE = 8 * 1024 * 1024
MANY = 20

Advance = Callable[[int], None]


def _nothing(_: int) -> None:
    return None


@contextmanager
def bytes_progress(description: str, total: int, show: bool | None) -> Iterator[Advance]:
    """Yield `advance(n)`; draws a rich bar when `show`, or when None and worth watching."""
    with _bar(description, total, show, total > LARGE, in_bytes=True) as advance:
        yield advance


@contextmanager
def items_progress(description: str, total: int, show: bool | None) -> Iterator[Advance]:
    """Yield `advance(n)` over `total` items (a bulk publish); None shows it for MANY or
    more items, when someone watches."""
    with _bar(description, total, show, total >= MANY, in_bytes=False) as advance:
        yield advance


@contextmanager
def _bar(description: str, total: int, show: bool | None, worth: bool, *, in_bytes: bool
         ) -> Iterator[Advance]:
    if show is False or (show is None and not worth):
        yield _nothing
        return
    from rich.console import Console  # imported here: plain SDK use never pays for rich
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    counts = (DownloadColumn(), TransferSpeedColumn()) if in_bytes else (MofNCompleteColumn(),)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), *counts,
               TimeRemainingColumn())
    console = Console(stderr=True)
    if show is None and not (console.is_terminal or console.is_jupyter):
        yield _nothing
        return
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
