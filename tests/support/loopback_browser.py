"""A stand-in for the web browser of `graphpost login`: a person who signs in at the sandbox's page
and whose browser then posts the sandbox's answer (form_post) to the CLI's loopback address.

The test points $BROWSER at a launcher for this file (`browser_launcher`).  Python's webbrowser
runs $BROWSER with the URL and waits for it to exit, as with a browser's launcher; so this hands
the work to a detached copy of itself and returns at once, as a real launcher does.

The person comes from PERSON_USERNAME and PERSON_PASSWORD, the sandbox's CA from PERSON_CA_FILE;
what it saw (the authorize URL's parameters, where the answer went) is appended to PERSON_LOG.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.person import _read, _sign_in_and_consent


def browser_launcher(folder: Path) -> str:
    """An executable to put in $BROWSER (webbrowser takes a command without arguments)."""
    launcher = folder / "browser"
    launcher.write_text(
        f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(Path(__file__).resolve())!r},"
        " run_name='__main__')\n"
    )
    launcher.chmod(0o755)
    return str(launcher)


def follow(url: str) -> dict[str, object]:
    record: dict[str, object] = {"authorize": dict(parse_qsl(urlsplit(url).query))}
    context = ssl.create_default_context(cafile=os.environ["PERSON_CA_FILE"])
    with httpx.Client(verify=context, timeout=30) as http:
        page = http.get(url)
        page = _sign_in_and_consent(
            http, page, os.environ["PERSON_USERNAME"], os.environ["PERSON_PASSWORD"], True
        )
        form = _read(page).form
        assert form is not None, f"no answer form on the page: {page.text[:300]}"
        # the auto-submitting form of response_mode=form_post, as a browser would submit it
        answer = httpx.post(form.action, data=form.fields, timeout=30)
        record.update(answered=form.action, status=answer.status_code, fields=sorted(form.fields))
    return record


def main() -> None:
    if sys.argv[1:2] != ["--follow"]:
        url = sys.argv[1]
        subprocess.Popen(
            [sys.executable, __file__, "--follow", url],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return
    try:
        record = follow(sys.argv[2])
    except Exception as failure:
        record = {"failure": repr(failure)}
    with open(os.environ["PERSON_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
