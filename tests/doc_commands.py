r"""Reading the commands a Markdown page shows, running them as a reader would, and comparing what they
print with what the page says (for ``test_docs.py``, whose docstring says how a page is read).

>>> [c.text for c in commands_in("Run:\n\n    $ rag info\n    index      ix\n")]
['rag info']
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import ROOT, SHARED_CORPUS

DOC_PROJECT, DOC_TMP = "/work/main", "/tmp"  # where the docs show the project and scratch folders
CORPUS_INDEX = "/tmp/ix-all"  # the docs' index of sources/ + ../shared/corpus
COMMAND = re.compile(r"(\$ |rag |\.venv/bin/|python |bash |curl |uvicorn |pip |RAG_[A-Z_]+=)")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
PROMPT = "you> "


@dataclass
class Command:
    page: str
    line: int
    text: str
    expected: str
    shown: bool  # written as "$ command" (a transcript), not only named in a code block

    @property
    def bare(self) -> str:
        """The command without its trailing comment, for matching."""
        return re.sub(r"\s+#\s.*$", "", self.text.split("\n")[0]).strip()

    @property
    def needs_corpus(self) -> bool:
        return "../shared/corpus" in self.text or CORPUS_INDEX in self.text

    @property
    def inputs(self) -> list[str]:
        return [line[len(PROMPT):].strip() for line in self.expected.splitlines() if line.startswith(PROMPT)]


def code_blocks(text: str) -> list[tuple[int, list[str]]]:
    """The indented code blocks of a Markdown page: (line number of the first line, lines less 4 spaces)."""
    blocks, current, start, previous_blank = [], [], 0, True
    for number, line in enumerate(text.splitlines(), start=1):
        indented = line.startswith("    ")
        if indented and (current or previous_blank):
            if not current:
                start = number
            current.append(line[4:])
        elif current and not line.strip():
            current.append("")
        else:
            if current:
                blocks.append((start, current))
            current = []
        previous_blank = not line.strip()
    if current:
        blocks.append((start, current))
    return [(s, _trim(lines)) for s, lines in blocks]


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _complete(text: str) -> bool:
    """A shell command that needs no further line: no trailing backslash, no open quote."""
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text.replace("$(", " ").replace(")", " "))
    except ValueError:
        return False
    return True


def commands(page: str) -> list[Command]:
    """Every command of a page (a path relative to the project)."""
    return commands_in((ROOT / page).read_text(encoding="utf-8"), page)


def commands_in(text: str, page: str = "") -> list[Command]:
    """The ``$`` lines of a page's code blocks with the output shown under them, and the other lines of its
    code blocks that start like a command."""
    out = []
    for start, lines in code_blocks(text):
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            if line.startswith("$ "):
                text, first = line[2:], start + i
                while not _complete(text) and i + 1 < len(lines):
                    i += 1
                    text += "\n" + lines[i].strip()
                i += 1
                expected = []
                while i < len(lines) and not lines[i].strip().startswith("$ "):
                    expected.append(lines[i])
                    i += 1
                out.append(Command(page, first, text, "\n".join(_trim(expected)), True))
                continue
            if COMMAND.match(line):
                out.append(Command(page, start + i, line, "", False))
            i += 1
    return out


# -- comparing ------------------------------------------------------------------------------------------

def normalise(text: str) -> str:
    """Blank what changes from run to run.

    >>> normalise("built /tmp/ix (20261128T190714-5d57f5): (49 texts embedded in 3.4s)")
    'built /tmp/ix (<ID>): (49 texts embedded in <S>)'
    >>> normalise("latency p50 (ms)               3.9       5.2")
    'latency p50 (ms) <MS>'
    """
    text = re.sub(r"\d{8}T\d{6}-[0-9a-f]{6}", "<ID>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d)?", "<TIME>", text)
    text = re.sub(r"(?<![\w.])\d+(?:\.\d+)?s\b", "<S>", text)
    return re.sub(r"(?m)^(\s*latency p\d+ \(ms\))[ \d.]+$", r"\1 <MS>", text)


def with_inputs(got: str, inputs: list[str]) -> str:
    """A chat's output with what was typed after each prompt, as a terminal shows it."""
    parts = got.split(PROMPT)
    out = parts[0]
    for k, part in enumerate(parts[1:]):
        typed = inputs[k] if k < len(inputs) else ""
        out += PROMPT + typed + ("" if typed == "^D" or not typed else "\n") + part
    return out


def mismatch(command: Command, got: str) -> str | None:
    """None when ``got`` matches what the page shows; else a doctest-style report."""
    want = normalise(command.expected) + "\n"
    got = normalise(got)
    checker = doctest.OutputChecker()
    if checker.check_output(want, got, FLAGS):
        return None
    example = doctest.Example(command.text, want)
    return (f"{command.page}, line {command.line}: $ {command.text}\n"
            + checker.output_difference(example, got, FLAGS))


# -- running ---------------------------------------------------------------------------------------------

@dataclass
class Project:
    """The folder a page's commands run in, and how its paths are written in the docs."""

    root: Path  # <session>/<page>, holding proj/ and shared/corpus
    session: Path
    env: dict[str, str] = field(default_factory=dict)
    replace: dict[str, str] = field(default_factory=dict)  # in the commands: doc text → real text

    @property
    def proj(self) -> Path:
        return self.root / "proj"

    def shown(self, text: str) -> str:
        """Real paths written as the docs write them."""
        pairs = [(str(self.session / "tmp"), DOC_TMP), (str(self.proj), DOC_PROJECT), (str(self.root), "/work"),
                 (str(ROOT), DOC_PROJECT)]
        if ROOT.parent not in (Path("/"), Path(DOC_TMP)):  # a clone in /tmp: "/tmp/ix-all" stays as written
            pairs.append((str(ROOT.parent), "/work"))
        for real, doc in pairs:
            text = text.replace(real, doc)
        return text

    def command(self, text: str) -> str:
        text = re.sub(r"(?<![\w/.])/tmp/", str(self.session / "tmp") + "/", text)
        for doc, real in self.replace.items():
            text = text.replace(doc, real)
        return text


def make_project(session: Path, page: str) -> Project:
    root = session / re.sub(r"\W", "-", page)
    project = Project(root, session)
    if not project.proj.exists():
        project.proj.mkdir(parents=True)
        for name in ("sources", "eval"):
            (project.proj / name).symlink_to(ROOT / name)
        if SHARED_CORPUS.is_dir():
            (root / "shared").mkdir()
            (root / "shared" / "corpus").symlink_to(SHARED_CORPUS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    project.env = {**env, "PATH": f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
                   "RAG_INDEX_DIR": str(project.proj / "index"), "HF_HUB_OFFLINE": "1",
                   "TOKENIZERS_PARALLELISM": "false",
                   "PYTHONUNBUFFERED": "1"}  # stdout and stderr in the order printed, as on a terminal
    return project


def run_page(project: Project, page_commands: list[Command], timeout: float = 900) -> list[tuple[str, int]]:
    """Run the commands in one shell in the page's project folder; what each printed (stdout and stderr
    together, as a terminal shows them) and its exit code."""
    lines = [f"cd {shlex.quote(str(project.proj))}"]
    for k, c in enumerate(page_commands):
        stdin = project.proj / f".input-{k}"
        stdin.write_text("".join(f"{t}\n" for t in c.inputs if t != "^D"), encoding="utf-8")
        lines += [f"printf '\\n@@@ {k}\\n'", f"{{ {project.command(c.text)}\n}} < {shlex.quote(str(stdin))} 2>&1",
                  "printf '\\n@@@ rc %s\\n' $?"]
    done = subprocess.run(["bash", "-c", "\n".join(lines)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=project.env, timeout=timeout, check=False)
    text = project.shown(done.stdout.decode("utf-8", "replace"))
    outputs = []
    for k in range(len(page_commands)):
        m = re.search(rf"\n@@@ {k}\n(.*?)\n@@@ rc (\d+)\n", text, re.S)
        outputs.append((m.group(1), int(m.group(2))) if m else (text, -1))
    return outputs


def check_page(project: Project, page_commands: list[Command]) -> None:
    problems = []
    for c, (got, rc) in zip(page_commands, run_page(project, page_commands)):
        if c.inputs:
            got = with_inputs(got, c.inputs)
        if not c.expected:
            if rc != 0:
                problems.append(f"{c.page}, line {c.line}: $ {c.text}\nexited {rc}:\n{got}")
            continue
        report = mismatch(c, got)
        if report:
            problems.append(report)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
