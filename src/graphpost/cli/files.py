"""`graphpost upload`, `download` and `link`: OneDrive files of any size, resumable both ways.

An upload over the library's session threshold keeps its session's address under
``GRAPHPOST_HOME/uploads``, so running the same command again after an interruption continues
where it stopped; a download keeps what it has in ``FILE.part`` and asks for the rest by Range.
"""

from __future__ import annotations

import argparse
from pathlib import Path, PurePosixPath
from typing import Any

from graphpost.cli.failures import UsageError
from graphpost.cli.output import Output, size_text
from graphpost.cli.signin import act
from graphpost.models import DriveItem


def remote_for(local: Path, remote: str | None) -> str:
    """Where an upload goes: REMOTE as given, in REMOTE when it ends with '/', else the root."""
    if not remote:
        return local.name
    remote = remote.replace("\\", "/").lstrip("/")
    return remote + local.name if remote.endswith("/") or not remote else remote


def local_for(remote: str, local: str | None) -> Path:
    """Where a download goes: FILE as given, inside FILE when it is a folder, else here."""
    name = PurePosixPath(remote.replace("\\", "/").rstrip("/")).name
    if not name:
        raise UsageError(f"{remote!r} names no file")
    if local is None:
        return Path(name)
    path = Path(local)
    return path / name if path.is_dir() else path


def item_json(item: DriveItem) -> dict[str, Any]:
    """What a script needs of an item; never its pre-authenticated download URL (a secret)."""
    return {
        "id": item.id,
        "name": item.name,
        "size": item.size,
        "webUrl": item.web_url,
        "parentPath": item.parent_path,
    }


def run_upload(args: argparse.Namespace) -> int:
    out = Output(args.json)
    local = Path(args.file)
    if not local.is_file():
        raise UsageError(f"no file at {args.file}")
    remote = remote_for(local, args.remote)
    acting = act()
    with acting.graph as graph, out.progress(f"uploading {local.name}") as progress:
        item = graph.upload(
            remote,
            local,
            user=acting.user,
            conflict_behavior=args.conflict,
            progress=progress,
        )
        progress(local.stat().st_size, local.stat().st_size)  # a small file goes in one request
    if out.json_mode:
        out.data(item_json(item))
    else:
        out.line(f"Uploaded {local} to {remote} ({size_text(item.size or 0)}).")
    return 0


def run_download(args: argparse.Namespace) -> int:
    out = Output(args.json)
    target = local_for(args.remote, args.file)
    if target.parent and not target.parent.is_dir():
        raise UsageError(f"no folder {target.parent} to download into")
    part = target.with_name(target.name + ".part")
    if part.exists():
        out.line(f"Continuing an interrupted download ({size_text(part.stat().st_size)} here).")
    acting = act()
    with acting.graph as graph, out.progress(f"downloading {target.name}") as progress:
        graph.download(target, remote_path=args.remote, user=acting.user, progress=progress)
    size = target.stat().st_size
    if out.json_mode:
        out.data({"remote": args.remote, "path": str(target.resolve()), "size": size})
    else:
        out.line(f"Downloaded {args.remote} to {target} ({size_text(size)}).")
    return 0


def run_link(args: argparse.Namespace) -> int:
    out = Output(args.json)
    acting = act()
    with acting.graph as graph:
        item = graph.item(remote_path=args.remote, user=acting.user)
        link = graph.create_link(item.id, type=args.type, scope=args.scope, user=acting.user)
    if out.json_mode:
        out.data(
            {
                "url": link.web_url,
                "type": link.type,
                "scope": link.scope,
                "created": link.created,
                "item": item_json(item),
            }
        )
    else:
        print(link.web_url, flush=True)  # the URL alone: `url=$(graphpost link report.pdf)`
    return 0
