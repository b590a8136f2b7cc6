"""The settings page: default recipients, a signature and a colour theme, saved in Graph (an open
extension on the user) so they follow the person to every instance and device."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from graphpost.web import signin
from graphpost.web.account import THEMES, InvalidSetting, UserSettings, save_settings

blueprint = Blueprint("settings", __name__)


@blueprint.get("/settings")
def settings_page() -> ResponseReturnValue:
    return render_template(
        "settings.html",
        values=signin.user_settings(),
        themes=THEMES,
        saved=request.args.get("saved") == "1",
        error=None,
        invalid=None,
    )


@blueprint.post("/settings")
def save() -> ResponseReturnValue:
    graph = signin.graph()
    try:
        chosen = UserSettings.from_form(request.form)
    except InvalidSetting as problem:
        typed = UserSettings(
            default_recipients=request.form.get("default_recipients", ""),
            signature=request.form.get("signature", ""),
            theme=signin.user_settings().theme,
        )
        html = render_template(
            "settings.html",
            values=typed,
            themes=THEMES,
            saved=False,
            error=str(problem),
            invalid=problem.field,
        )
        return html, 400
    save_settings(graph, chosen)
    signin.remember_settings(chosen)
    return redirect(url_for("settings.settings_page", saved="1"), code=303)
