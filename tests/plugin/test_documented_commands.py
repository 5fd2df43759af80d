"""Every command in README.md and docs/ works exactly as typed from a user's repository root.

Commands are read from the docs' fenced blocks and run with the venv's own
``pytest`` / ``ctxprop`` executables (not ``python -m``: plain ``pytest`` does
not put the current folder on sys.path) in a scratch project that holds the
modules the page talks about.  A new documented command without an entry in
``PROJECTS`` fails the test, so the docs cannot drift from what is run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
COMMAND_WORDS = ("pytest", "ctxprop", "python", "tox", "pip")


def _python_block(doc: str, marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(encoding="utf-8"), re.S)
    (code,) = [b for b in blocks if marker in b]
    return code


def _shell_lines(text: str) -> list[str]:
    """Lines of fenced blocks with no language or a shell one (``console``, ``sh``)."""
    lines, language = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            language = None if language is not None else line[3:].strip()
        elif language in ("", "console", "sh", "shell", "bash"):
            lines.append(line.strip())
    return lines


def documented_commands() -> list[tuple[str, str]]:
    """(doc, command line) for every command typed in a shell block of the docs."""
    found = []
    for doc in DOCS:
        for line in _shell_lines(doc.read_text(encoding="utf-8")):
            first = line.split(maxsplit=1)[0] if line else ""
            if not (first in COMMAND_WORDS or re.match(r"^[A-Z_]+=", first)):
                continue
            words = shlex.split(line)
            while words and re.match(r"^[A-Z_]+=", words[0]):
                words = words[1:]
            if words and words[0] in COMMAND_WORDS:
                found.append((doc.relative_to(ROOT).as_posix(), line))
    return found


def _readme_adapter() -> str:
    return _python_block("README.md", "class MyPoolAdapter")


#: command -> files of the scratch project it runs in, and its exit status;
#: None: not run here, with the reason
PROJECTS: dict[str, tuple[dict[str, str], int] | str] = {
    "pip install -e '.[test]' && pytest -n 2": "this project's own test suite (tox, .ci/run)",
    "pip install -e . && ctxprop matrix": "run as typed by test_cli_matrix.py (every runtime)",
    "pytest -p ctxprop --ctxprop-runtime=myproject.adapters:MyPoolAdapter "
    "--ctxprop-report=ctxprop.json": (
        {"myproject/__init__.py": "", "myproject/adapters.py": _readme_adapter()},
        1,  # a plain ThreadPoolExecutor loses the context: F1 and others fail
    ),
    "pip install -e '.[ecosystem,brokers,dask]' && ctxprop matrix --all --publish": (
        "every row (about a minute); its pages are checked by test_published_matrix.py"
    ),
    "pip install pytest-ctxprop": "installs from the package index",
    "pip install 'pytest-ctxprop[ecosystem]'": "installs from the package index",
    "pytest -p ctxprop --ctxprop-runtime=anyio.to_thread --ctxprop-runtime=loky": (
        {},
        1,  # loky forwards no context: F1 and others fail (docs/ecosystem.md)
    ),
    "pytest -p ctxprop --ctxprop-runtime=myproject.ctxprop_adapter:MyRuntimeAdapter": (
        {
            "myproject/__init__.py": "",
            "myproject/ctxprop_adapter.py": _readme_adapter()
            + "\n\nMyRuntimeAdapter = MyPoolAdapter\n",
        },
        1,
    ),
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 pytest -p ctxprop "
    "--ctxprop-runtime=jobqueue:JobQueueAdapter": (
        {"jobqueue.py": _python_block("docs/adapters.md", "class JobQueueAdapter")},
        0,
    ),
    "pytest --ctxprop-contextvars=contextvars --ctxprop-contextvars=mylib.context": (
        {"mylib/__init__.py": "", "mylib/context.py": "from contextvars import *  # noqa\n"},
        0,
    ),
    "pytest --ctxprop-contextvars=mylib.ctxprop_adapter:contextvars_api": (
        {
            "mylib/__init__.py": "",
            "mylib/context.py": "from contextvars import *  # noqa\n",
            "mylib/ctxprop_adapter.py": _python_block("docs/tokens.md", "contextvars_api ="),
        },
        1,  # the page's T9 deviation is stale for the stdlib's tokens: an error, as documented
    ),
}
#: ``tox`` lines of docs/ci.md are checked by test_ci_recipe.py
CHECKED_ELSEWHERE = ("tox ",)


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    words = shlex.split(command)
    while re.match(r"^[A-Z_]+=", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    words[0] = str(BIN / words[0])
    return subprocess.run(
        words, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600
    )


def test_every_documented_command_has_a_project() -> None:
    commands = {c for _, c in documented_commands() if not c.startswith(CHECKED_ELSEWHERE)}
    assert commands, "no commands found: the extraction is broken"
    assert commands <= set(PROJECTS), sorted(commands - set(PROJECTS))


@pytest.mark.parametrize(
    "command",
    [c for c, p in PROJECTS.items() if not isinstance(p, str)],
    ids=lambda c: c.split("--ctxprop-")[1].split()[0][:40],
)
def test_the_command_works_as_typed(command: str, tmp_path: Path) -> None:
    project = PROJECTS[command]
    assert not isinstance(project, str)
    files, status = project
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    proc = _run(command, tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == status, out[-3000:]
    assert "No module named" not in out
    assert "ctxprop conformance matrix" in proc.stdout
    if "--ctxprop-report=ctxprop.json" in command:
        assert (tmp_path / "ctxprop.json").is_file()
