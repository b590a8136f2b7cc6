"""The sample's pages: home, the mail form, sending (POST), and the result with Graph's answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from graphpost.core.mail import FileAttachment, InvalidRecipients, parse_recipients
from graphpost.errors import GraphError
from graphpost.web import mailform, signin
from graphpost.web.display import human_size
from graphpost.web.uploads import attachments_from

blueprint = Blueprint("mail", __name__)


@blueprint.get("/")
def home() -> ResponseReturnValue:
    if signin.current_user():
        return redirect(url_for("mail.mailform"), code=302)
    return render_template("home.html")


@blueprint.get("/mailform", endpoint="mailform")
def mailform_page() -> str:
    user = signin.current_user() or {}
    content = mailform.prepare(
        signin.graph(),
        signin.profile(),
        signin.user_settings(),
        signin.store(),
        user.get("home_account_id", ""),
    )
    return render_template(
        "mailform.html",
        sender=content.sender,
        picture=content.picture,
        recipients=content.recipients,
        cc="",
        bcc="",
        subject=content.subject,
        body=content.body,
        link_problem=content.link_problem,
        error=None,
        invalid=None,
    )


@blueprint.post("/send_mail")
def send_mail() -> ResponseReturnValue:
    graph = signin.graph()
    fields = {name: request.form.get(name, "") for name in ("recipients", "cc", "bcc", "body")}
    subject = request.form.get("subject", "").strip()
    # the photo attached is always the user's own, fetched again here; never a path from the form
    picture = mailform.picture_of(graph.photo())
    uploaded = attachments_from(request.files.getlist("attachments"))
    invalid = "recipients"
    try:
        to = parse_recipients(fields["recipients"])
        if not to:
            raise InvalidRecipients("Enter at least one recipient.")
        invalid = "cc"
        cc = parse_recipients(fields["cc"])
        invalid = "bcc"
        bcc = parse_recipients(fields["bcc"])
        invalid = "subject"
        if not subject:
            raise ValueError("Enter a subject.")
    except ValueError as problem:
        message = str(problem)
        if uploaded:
            message += " Your files were not kept: please attach them again."
        html = render_template(
            "mailform.html",
            sender=signin.profile().sender,
            picture=picture,
            recipients=fields["recipients"],
            cc=fields["cc"],
            bcc=fields["bcc"],
            subject=subject,
            body=fields["body"],
            link_problem=None,
            error=message,
            invalid=invalid,
        )
        return html, 400
    files = [FileAttachment(picture.filename, picture.content, picture.content_type), *uploaded]
    outcome: dict[str, Any] = {
        "recipients": ", ".join(to),
        "cc": ", ".join(cc),
        "bcc": ", ".join(bcc),
        "subject": subject,
        "body_length": len(fields["body"].encode()),
        "attachment": picture.filename,
        "attachments": [f"{f.filename} ({human_size(f.size)})" for f in files],
    }
    try:
        # exactly once, through a draft; files of 3 MB and more go through upload sessions
        receipt = graph.send_mail(
            subject=subject,
            body=fields["body"],
            to=to,
            cc=cc,
            bcc=bcc,
            html=True,
            attachments=files,
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
    return render_template("mailsent.html", outcome=outcome, sender=signin.profile().sender)
