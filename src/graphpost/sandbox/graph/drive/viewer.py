"""What a sharing link's address opens in a browser: the file, after sign-in for organization links."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, request, send_file
from werkzeug.wrappers import Response

from graphpost.sandbox.context import sandbox
from graphpost.sandbox.graph.drive import state
from graphpost.sandbox.identity.authorize import sign_in_page, signed_in_user

blueprint = Blueprint("drive_viewer", __name__)


@blueprint.get("/:<kind>:/g/personal/<owner>/<token>")
def open_link(kind: str, owner: str, token: str) -> Response:
    sb = sandbox()
    found = state.resolve_link(sb, token)
    if found is None:
        return Response(
            "This link has been removed or has expired.", status=404, mimetype="text/plain"
        )
    link, item = found
    if link["scope"] == "organization" and signed_in_user(sb) is None:
        return sign_in_page(
            sb,
            {
                "kind": "link",
                "tenant": sb.tenant_id,
                "next": request.path,
                "client_id": "",
                "scope": "",
            },
        )
    if item["is_folder"]:
        return Response(f"Folder {item['name']}", mimetype="text/plain")
    # streamed from the file, never read whole: a shared file may be gigabytes
    response = send_file(
        sb.store.blob_path(item["blob"]),
        mimetype=item["mime_type"] or "application/octet-stream",
        download_name=item["name"],
        conditional=True,
        max_age=0,
    )
    response.headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(item['name'])}"
    # the file is someone's upload: never let it run as a page of the sandbox's origin
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
