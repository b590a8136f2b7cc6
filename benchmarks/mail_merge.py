"""Mail merge of 1,000 rows against a sandbox with --latency-ms 100: `graphpost send --each` as a
share of Outlook's limit (4 requests at once per app and mailbox), beside the sample's loop (one
sendMail after the other, as its Flask view sends), in the same run.  Goal: at least 90%.

    .venv/bin/python benchmarks/mail_merge.py [--rows 1000] [--latency-ms 100]

The limit: each request spends at least the latency in the service, and at most 4 run at once,
so N mails of one request each take at least N x latency / 4.  Afterwards every row's mail is
counted in the sender's Sent Items: each must be there exactly once.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from graphpost.sandbox.process import RunningSandbox, start_sandbox

LIMIT = 4  # Outlook: concurrent requests per app and mailbox


def merge_with_graphpost(
    sandbox: RunningSandbox, folder: Path, rows: int, tag: str
) -> dict[str, object]:
    sender = sandbox.user("ada")["userPrincipalName"]
    table = folder / "rows.csv"
    table.write_text(
        "email,name,n\n" + "".join(f"row{n}@example.com,Person {n},{n}\n" for n in range(rows))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHPOST_")}
    env.update(GRAPHPOST_HOME=str(folder / "home"), GRAPHPOST_SANDBOX=str(sandbox.data_dir))
    command = [
        sys.executable,
        "-m",
        "graphpost.cli",
        "send",
        "--each",
        str(table),
        "--from",
        sender,
        "--subject",
        f"{tag} graphpost {{n}}",
        "--body",
        "Hello {name}, this is row {n}.",
        "--json",
    ]
    began = time.perf_counter()
    run = subprocess.run(command, env=env, capture_output=True, text=True, cwd=folder, check=False)
    wall = time.perf_counter() - began
    if run.returncode != 0:
        raise SystemExit(f"graphpost send --each failed ({run.returncode}):\n{run.stderr}")
    summary = json.loads(run.stdout)
    return {"wall": wall, "sending": float(summary["seconds"]), "summary": summary}


def sample_loop(sandbox: RunningSandbox, rows: int, tag: str) -> float:
    """What the sample does for each mail: one POST /me/sendMail, waiting for each answer."""
    token = sandbox.user_token("ada")
    trust = ssl.create_default_context(cafile=sandbox.ca_file)
    began = time.perf_counter()
    with httpx.Client(verify=trust, headers={"Authorization": f"Bearer {token}"}) as http:
        for n in range(rows):
            message = {
                "subject": f"{tag} sample {n}",
                "body": {"contentType": "Text", "content": f"Hello Person {n}, this is row {n}."},
                "toRecipients": [{"emailAddress": {"address": f"row{n}@example.com"}}],
            }
            answer = http.post(f"{sandbox.graph_url}/me/sendMail", json={"message": message})
            if answer.status_code != 202:
                raise SystemExit(f"the sample's sendMail answered {answer.status_code}")
    return time.perf_counter() - began


def sent_subjects(sandbox: RunningSandbox, tag: str) -> collections.Counter[str]:
    """Subjects of the sender's Sent Items that carry `tag`, counted."""
    trust = ssl.create_default_context(cafile=sandbox.ca_file)
    counts: collections.Counter[str] = collections.Counter()
    url: str | None = (
        f"{sandbox.graph_url}/me/mailFolders/sentitems/messages?$top=1000&$select=subject"
    )
    with httpx.Client(
        verify=trust, headers={"Authorization": f"Bearer {sandbox.user_token('ada')}"}, timeout=60
    ) as http:
        while url:
            page = http.get(url).raise_for_status().json()
            counts.update(m["subject"] for m in page["value"] if m["subject"].startswith(tag))
            url = page.get("@odata.nextLink")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=100)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    latency = args.latency_ms / 1000
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        sandbox = start_sandbox(
            folder / "sandbox", "--latency-ms", str(args.latency_ms), "--userrealm-port", "0"
        )
        try:
            ours = merge_with_graphpost(sandbox, folder, args.rows, tag)
            requests = [e for e in sandbox.request_log() if e["path"].endswith("/sendMail")]
            theirs = sample_loop(sandbox, args.rows, tag)
            counts = sent_subjects(sandbox, tag)
        finally:
            sandbox.stop()

    floor = args.rows * latency / LIMIT  # the fastest any client can go: 4 at once, each >= latency
    ours_requests = len(requests)
    throttled = sum(1 for e in requests if e["status"] == 429)
    ours_sending = float(ours["sending"])  # type: ignore[arg-type]
    ours_wall = float(ours["wall"])  # type: ignore[arg-type]
    print(
        f"{args.rows} rows, sandbox --latency-ms {args.latency_ms}, limit {LIMIT} requests at once"
        f" per app and mailbox: at best {floor:.1f} s ({args.rows / floor:.0f} mails/s)"
    )
    print(
        f"  graphpost send --each  sending {ours_sending:6.1f} s  {args.rows / ours_sending:5.1f}"
        f" mails/s  {floor / ours_sending:6.1%} of the limit   (whole command {ours_wall:.1f} s:"
        f" {floor / ours_wall:.1%})"
    )
    print(
        f"  the sample's loop              {theirs:6.1f} s  {args.rows / theirs:5.1f} mails/s"
        f"  {floor / theirs:6.1%} of the limit"
    )
    print(f"  graphpost / sample: {theirs / ours_sending:.1f}x the mails per second")
    served = sorted(float(e["ms"]) for e in requests)
    print(
        f"  sendMail requests by graphpost: {ours_requests} ({throttled} answered 429),"
        f" served in {served[len(served) // 2]:.0f} ms (median), {served[-len(served) // 20]:.0f}"
        " ms (95th percentile)"
    )
    ours_counts = [counts[f"{tag} graphpost {n}"] for n in range(args.rows)]
    sample_counts = [counts[f"{tag} sample {n}"] for n in range(args.rows)]
    print(
        "  every row exactly once in Sent Items:"
        f" graphpost {'yes' if set(ours_counts) == {1} else 'NO: ' + str(collections.Counter(ours_counts))},"
        f" sample {'yes' if set(sample_counts) == {1} else 'NO'}"
    )


if __name__ == "__main__":
    main()
