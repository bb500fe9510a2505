"""The command-line page shows what ``graphseq check`` and ``graphseq summary`` print today.

A ```bash block of such commands followed directly by one ```text block per command is run
command by command from the repository root, and each output must match its block.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from graphseq.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "cli.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", flags=re.S | re.M)
RUN = ("check", "summary")  # commands that only read; demo, draw and export write files


def shown() -> list[tuple[str, str]]:
    text = PAGE.read_text(encoding="utf-8")
    blocks = list(BLOCK.finditer(text))
    pairs = []
    for i, block in enumerate(blocks):
        lines = [line.split("  #")[0].strip() for line in block.group(2).splitlines()]
        commands = [line for line in lines if line]
        if block.group(1) != "bash" or not all(
            c.startswith("graphseq ") and c.split()[1] in RUN for c in commands
        ):
            continue
        after = blocks[i + 1:i + 1 + len(commands)]
        texts, end = [], block.end()
        for following in after:
            if following.group(1) != "text" or text[end:following.start()].strip():
                break
            texts.append(following.group(2))
            end = following.end()
        if len(texts) == len(commands):
            pairs += zip(commands, texts, strict=True)
    return pairs


def test_the_page_shows_check_and_summary_outputs():
    assert {c.split()[1] for c, _ in shown()} == set(RUN)


@pytest.mark.parametrize("command, output", shown(), ids=[c for c, _ in shown()])
def test_a_shown_command_prints_what_the_page_shows(command, output, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    main(shlex.split(command)[1:])
    printed = capsys.readouterr()
    got = [line.rstrip() for line in (printed.out + printed.err).strip().splitlines()]
    assert got == [line.rstrip() for line in output.strip().splitlines()]
