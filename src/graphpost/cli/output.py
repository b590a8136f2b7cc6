"""What the commands print: result lines or JSON on stdout, progress bars (rich) only on a terminal.

On a terminal, transfers and mail merges show a progress bar; anywhere else (a pipe, a file,
cron) the output is quiet and line by line, with no escape codes.  rich honours NO_COLOR.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

Progress = Callable[[int, int], None]
"""Called with (done, in all): bytes for transfers, mails for a merge."""


def _ignore(done: int, total: int) -> None:
    return None


class Output:
    """Where a command's results go; `json_mode` makes data go out as JSON."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.terminal = sys.stdout.isatty()

    def line(self, text: str = "") -> None:
        """A human-readable line (left out with --json, where stdout is the data alone)."""
        if not self.json_mode:
            print(text, flush=True)

    def data(self, value: Any) -> None:
        print(json.dumps(value, indent=2, ensure_ascii=False, default=str), flush=True)

    def note(self, text: str) -> None:
        """Something for the person waiting (what to do next), on stderr."""
        print(text, file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def progress(self, description: str, unit: str = "bytes") -> Iterator[Progress]:
        """A progress callback: a rich bar on a terminal (bytes or a count), nothing elsewhere."""
        if not self.terminal or self.json_mode:
            yield _ignore
            return
        from rich import progress as bars
        from rich.console import Console

        if unit == "bytes":
            columns: tuple[Any, ...] = (
                bars.DownloadColumn(),
                bars.TransferSpeedColumn(),
                bars.TimeRemainingColumn(),
            )
        else:
            columns = (bars.MofNCompleteColumn(), bars.TimeRemainingColumn())
        shown = bars.Progress(
            bars.TextColumn("{task.description}"),
            bars.BarColumn(),
            bars.TaskProgressColumn(),
            *columns,
            console=Console(file=sys.stdout),
            transient=False,
        )
        task = shown.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            shown.update(task, completed=done, total=total)

        with shown:
            yield update


def size_text(size: int) -> str:
    """1,234 bytes, 12.3 KiB, 4.56 MiB, 1.23 GiB."""
    if size < 1024:
        return f"{size:,} bytes"
    value, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"
