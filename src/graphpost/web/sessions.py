"""Server-side sessions: the cookie carries only a signed random id; the data stays in the store.

Nothing secret (tokens, codes) ever goes to the browser, and signing out on one
instance ends the session on all of them.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from flask import Flask, Request, Response
from flask import request as current_request
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, Signer
from werkzeug.datastructures import CallbackDict

from graphpost.web.store import Store

SESSION_SECONDS = 8 * 3600


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, data: dict[str, Any] | None, session_id: str, new: bool) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.session_id = session_id
        self.new = new
        self.modified = False
        self.rotate = False

    def regenerate(self) -> None:
        """Give the session a new id (after sign-in), so an id planted before it is worth nothing."""
        self.rotate = True
        self.modified = True


class ServerSessionInterface(SessionInterface):
    def __init__(self, store: Store, secret_key: str) -> None:
        self.store = store
        self.signer = Signer(secret_key, salt="graphpost-web-session")

    @staticmethod
    def _key(session_id: str) -> str:
        return f"web:session:{session_id}"

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        cookie = request.cookies.get(self.get_cookie_name(app))
        if cookie:
            try:
                session_id = self.signer.unsign(cookie).decode()
            except BadSignature:
                session_id = ""
            raw = self.store.get(self._key(session_id)) if session_id else None
            if raw is not None:
                return ServerSession(json.loads(raw), session_id, new=False)
        return ServerSession(None, secrets.token_urlsafe(32), new=True)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name = self.get_cookie_name(app)
        if not session:
            if not session.new:
                self.store.delete(self._key(session.session_id))
                response.delete_cookie(name, path=self.get_cookie_path(app))
            return
        if session.rotate:
            self.store.delete(self._key(session.session_id))
            session.session_id = secrets.token_urlsafe(32)
            session.rotate = False
        if session.modified or session.new or self.should_set_cookie(app, session):
            self.store.set(
                self._key(session.session_id), json.dumps(dict(session)), SESSION_SECONDS
            )
        response.set_cookie(
            name,
            self.signer.sign(session.session_id).decode(),
            max_age=SESSION_SECONDS,
            path=self.get_cookie_path(app),
            httponly=True,
            # Secure whenever the page came over https (directly, or through a trusted proxy)
            secure=self.get_cookie_secure(app) or current_request.is_secure,
            samesite=self.get_cookie_samesite(app),
        )
        response.vary.add("Cookie")
