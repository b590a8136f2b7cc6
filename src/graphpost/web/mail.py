"""The sample's pages: home, the mail form, sending (POST), and the result with Graph's answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from graphpost.core.mail import FileAttachment, InvalidRecipients, parse_recipients
from graphpost.errors import GraphError
from graphpost.web import mailform, signin

blueprint = Blueprint("mail", __name__)


@blueprint.get("/")
def home() -> ResponseReturnValue:
    if signin.current_user():
        return redirect(url_for("mail.mailform"), code=302)
    return render_template("home.html")


@blueprint.get("/mailform", endpoint="mailform")
def mailform_page() -> str:
    content = mailform.prepare(signin.graph())
    return render_template(
        "mailform.html",
        sender=content.sender,
        picture=content.picture,
        recipients=content.recipients,
        subject=content.subject,
        body=content.body,
        link_problem=content.link_problem,
        error=None,
    )


@blueprint.post("/send_mail")
def send_mail() -> ResponseReturnValue:
    graph = signin.graph()
    recipients_text = request.form.get("recipients", "")
    subject = request.form.get("subject", "").strip()
    body = request.form.get("body", "")
    # the attachment is always the user's own photo, fetched again here; never a path from the form
    picture = mailform.picture_of(graph.photo())
    try:
        recipients = parse_recipients(recipients_text)
        if not recipients:
            raise InvalidRecipients("Enter at least one recipient.")
        if not subject:
            raise ValueError("Enter a subject.")
    except ValueError as problem:
        user = signin.current_user() or {}
        html = render_template(
            "mailform.html",
            sender=f"{user.get('name', '')} <{user.get('username', '')}>",
            picture=picture,
            recipients=recipients_text,
            subject=subject,
            body=body,
            link_problem=None,
            error=str(problem),
        )
        return html, 400
    outcome: dict[str, Any] = {
        "recipients": ", ".join(recipients),
        "subject": subject,
        "body_length": len(body.encode()),
        "attachment": picture.filename,
    }
    try:
        receipt = graph.send_mail(
            subject=subject,
            body=body,
            to=recipients,
            html=True,
            attachments=[FileAttachment(picture.filename, picture.content, picture.content_type)],
        )
        outcome.update(status=202, code=None, message="Accepted", request_id=receipt.request_id)
    except GraphError as failure:
        outcome.update(
            status=failure.status,
            code=failure.code,
            message=failure.message,
            request_id=failure.request_id,
        )
    session["last_send"] = outcome
    # post/redirect/get: reloading the result page never sends the mail again
    return redirect(url_for("mail.mailsent"), code=303)


@blueprint.get("/mailsent")
def mailsent() -> ResponseReturnValue:
    outcome = session.get("last_send")
    if not outcome:
        return redirect(url_for("mail.mailform"), code=302)
    user = signin.current_user() or {}
    return render_template(
        "mailsent.html",
        outcome=outcome,
        sender=f"{user.get('name', '')} <{user.get('username', '')}>",
    )
