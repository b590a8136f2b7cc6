"""Everything a running sandbox shares between its Entra ID side and its Graph side."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app

from graphpost.sandbox.clock import Clock
from graphpost.sandbox.directory import Directory
from graphpost.sandbox.faults import Faults
from graphpost.sandbox.identity.keys import SigningKey
from graphpost.sandbox.requestlog import RequestLog
from graphpost.sandbox.seed import seed_tenant
from graphpost.sandbox.store import Store
from graphpost.sandbox.throttling import OutlookThrottle


@dataclass
class Sandbox:
    data_dir: Path
    store: Store
    directory: Directory
    clock: Clock
    signing_key: SigningKey
    tenant_id: str
    tenant_domain: str
    admin_key: str
    cookie_secret: bytes
    latency_ms: int = 0
    base_url: str = "https://127.0.0.1"
    faults: Faults = field(default_factory=Faults)
    requests: RequestLog = field(default_factory=RequestLog)
    throttle: OutlookThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.throttle = OutlookThrottle(now=self.clock.now)

    @classmethod
    def open(cls, data_dir: Path, latency_ms: int = 0, throttling: bool = True) -> Sandbox:
        """Open the data folder, seeding the tenant on first use."""
        data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(data_dir)
        if store.meta("tenant_id") is None:
            seed_tenant(store)
        opened = cls(
            data_dir=data_dir,
            store=store,
            directory=Directory(store),
            clock=Clock(float(store.meta("clock_offset") or 0)),
            signing_key=SigningKey(data_dir),
            tenant_id=str(store.meta("tenant_id")),
            tenant_domain=str(store.meta("tenant_domain")),
            admin_key=str(store.meta("admin_key")),
            cookie_secret=bytes.fromhex(str(store.meta("cookie_secret"))),
            latency_ms=latency_ms,
        )
        opened.throttle.enabled = throttling
        return opened

    def credentials(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.store.meta("credentials") or "{}")
        return value

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    def advance_clock(self, seconds: float) -> None:
        self.clock.offset += seconds
        self.store.set_meta("clock_offset", repr(self.clock.offset))


def sandbox() -> Sandbox:
    """The sandbox serving the current request."""
    value: Sandbox = current_app.extensions["graphpost_sandbox"]
    return value
