"""Import time: `import graphpost` alone, and what sending mail needs (the client and MSAL), against
msgraph-sdk + azure-identity's imports for the same job; each in a fresh process of its own fresh venv
(see installed_size.py), timed inside the process, median of alternating runs. Goal: `import
graphpost` under a third of the SDK's.

    .venv/bin/python -m benchmarks.import_time [--runs 15]
"""

from __future__ import annotations

import argparse

from benchmarks.installed_size import build, python_of, with_current_graphpost
from benchmarks.support import Run, median, ratio_line, run_python

TIMED = """
import time
began = time.perf_counter()
{imports}
print(time.perf_counter() - began)
"""

PACKAGE = "import graphpost"
OURS_SENDING = "from graphpost import Graph, AppTokenProvider\nimport msal"
SDK_SENDING = """
from azure.identity.aio import ClientSecretCredential
from msgraph import GraphServiceClient
from msgraph.generated.models.message import Message
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import (
    SendMailPostRequestBody,
)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    ours_python = with_current_graphpost()
    build("sdk")
    package, sending, sdk = [], [], []
    for _ in range(args.runs):  # in turns, so that a burst of load weighs on all three
        package.append(run_python(TIMED.format(imports=PACKAGE), python=ours_python))
        sending.append(run_python(TIMED.format(imports=OURS_SENDING), python=ours_python))
        sdk.append(run_python(TIMED.format(imports=SDK_SENDING), python=python_of("sdk")))

    def ms(runs: list[Run]) -> float:
        return median([float(r.stdout) * 1000 for r in runs])

    def mib(runs: list[Run]) -> float:
        return median([r.peak_mib for r in runs])

    print(f"imports in fresh processes, median of {args.runs} runs each")
    print(ratio_line("import graphpost vs the SDK's", ms(package), ms(sdk), "ms", "< 0.33"))
    print(ratio_line("  peak RSS", mib(package), mib(sdk), "MiB"))
    print(ratio_line("Graph + MSAL vs the SDK's", ms(sending), ms(sdk), "ms"))
    print(ratio_line("  peak RSS", mib(sending), mib(sdk), "MiB"))


if __name__ == "__main__":
    main()
