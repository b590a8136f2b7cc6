"""How pages show sizes and times (also Jinja filters: `size`, `when`)."""

from __future__ import annotations

from datetime import datetime

from flask import Flask


def human_size(count: int | None) -> str:
    if count is None:
        return "—"
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.1f} MB"


def when(moment: datetime | None) -> str:
    """Graph's times are UTC; shown as such, since the server cannot know the reader's zone."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def install(app: Flask) -> None:
    app.jinja_env.filters["size"] = human_size
    app.jinja_env.filters["when"] = when
