"""The README's "Python API" examples, run as the plain scripts they are, on the real cluster.

Each ```python block under the ``## Python API`` heading runs in a fresh
interpreter, in order, with ``MYSQL_NAMESPACE`` set to the test's namespace
(the examples read it) and the session's operator serving that namespace.
``MYSQL_OPERATOR_README`` names another Markdown file to take them from.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, ClusterInfo, OperatorProcess

HEADING = "## Python API"
README = Path(os.environ.get("MYSQL_OPERATOR_README") or REPO / "README.md")
_FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_examples(markdown: str, heading: str = HEADING) -> list[str]:
    """The ```python blocks of one level-2 section (up to the next level-2 heading)."""
    lines = markdown.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == heading)
    except StopIteration:
        return []
    section: list[str] = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        section.append(line)
    return _FENCE.findall("".join(section))


def test_python_examples_extraction() -> None:
    markdown = (
        "# T\n## Python API\ntext\n```python\nprint(1)\n```\n```console\n$ x\n```\n"
        "### more\n```python\nprint(2)\n```\n## Next\n```python\nprint(3)\n```\n"
    )
    assert python_examples(markdown) == ["print(1)\n", "print(2)\n"]
    assert python_examples("# T\n## Other\n") == []


@pytest.mark.cluster
def test_readme_python_api_examples(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess
) -> None:
    examples = python_examples(README.read_text())
    if not examples:
        pytest.skip(f"{README} has no ```python examples under {HEADING!r} yet")
    env = dict(os.environ, MYSQL_NAMESPACE=namespace, KUBECONFIG=cluster.kubeconfig)
    outputs = []
    for number, code in enumerate(examples, 1):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                env=env, cwd=REPO, timeout=600)
        assert result.returncode == 0, (
            f"example {number} exited {result.returncode}:\n{result.stdout}\n{result.stderr}\n"
            f"operator log:\n{operator.logs()[-3000:]}")
        print(f"--- example {number}:\n{result.stdout}")  # shown with -s
        outputs.append(result.stdout)
    # The story the examples tell: a backup on delete, restored by the next namesake.
    assert "source='dump-" in outputs[-1], outputs
