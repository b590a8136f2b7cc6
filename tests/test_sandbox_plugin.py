"""The pytest plugin as another project meets it: a test folder of its own with no conftest, the
`graph_sandbox` fixture found through the `pytest11` entry point, and the README's example run as
written (so the documentation cannot drift from what works)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"

# what the README's table promises, used the way another project's tests would use it
SHORTCUTS = """

def test_the_fixtures_shortcuts(graph_sandbox):
    import base64, json
    grace = graph_sandbox.user("grace")
    claims = json.loads(base64.urlsafe_b64decode(graph_sandbox.app_token().split(".")[1] + "=="))
    assert claims["roles"] and "scp" not in claims
    graph_sandbox.inject_fault("GET", "/me$", 503, retry_after=2)
    with graph_sandbox.client(
        headers={"Authorization": "Bearer " + graph_sandbox.user_token("grace")}
    ) as http:
        refused = http.get(graph_sandbox.graph_url + "/me")
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
        assert http.get(graph_sandbox.graph_url + "/me").json()["id"] == grace["id"]
    log = graph_sandbox.request_log()
    assert [e["status"] for e in log if e["path"] == "/v1.0/me"][-2:] == [503, 200]
    assert graph_sandbox.info["graph_url"] == graph_sandbox.graph_url
"""


def readme_example() -> str:
    section = README.read_text().split("### In your own tests", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "the README shows the fixture in use"
    return found.group(1)


def test_another_project_uses_the_fixture_from_the_readme(tmp_path: Path) -> None:
    project = tmp_path / "their-project"
    project.mkdir()
    (project / "test_their_mailer.py").write_text(readme_example() + SHORTCUTS)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
