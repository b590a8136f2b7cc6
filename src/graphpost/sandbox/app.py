"""The sandbox's WSGI application: Entra ID, Graph, sharing-link pages, portal and control plane."""

from __future__ import annotations

from flask import Flask, Response, render_template, request

from graphpost.sandbox.context import Sandbox, sandbox


def create_app(sb: Sandbox) -> Flask:
    from graphpost.sandbox import admin, graph
    from graphpost.sandbox.graph.drive import viewer
    from graphpost.sandbox.identity.endpoints import identity_blueprint

    app = Flask(__name__)
    app.extensions["graphpost_sandbox"] = sb
    app.json.sort_keys = False  # type: ignore[attr-defined]  # Entra's documents keep their order
    app.register_blueprint(identity_blueprint())
    app.register_blueprint(graph.blueprint)
    app.register_blueprint(viewer.blueprint)
    app.register_blueprint(admin.blueprint)

    @app.before_request
    def _scripted_fault() -> Response | None:
        if not request.path.startswith("/v1.0/"):
            return None
        fault = sandbox().faults.take(request.method, request.path)
        if fault is None:
            return None
        from graphpost.sandbox.graph.wire import error_response

        response = error_response(fault.status, fault.code, fault.message)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = f"{fault.retry_after:g}"
        return response

    @app.get("/")
    def overview() -> Response:
        current = sandbox()
        users = current.directory.users()
        counts = {
            row["user_id"]: row["n"]
            for row in current.store.query(
                "SELECT user_id, COUNT(*) AS n FROM messages GROUP BY user_id"
            )
        }
        return Response(
            render_template(
                "portal/index.html",
                sb=current,
                users=users,
                counts=counts,
                apps=current.directory.apps(),
            )
        )

    return app
