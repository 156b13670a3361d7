"""Fill the sample outputs in README.md and docs/*.md from the real tool, or check that they match it.

A sample block is a fenced block between two markers; the first line inside the fence is the command as the
reader types it:

    <!-- sample: seprof inject resnet50 --r 16 --no-latency -->
    ```text
    $ seprof inject resnet50 --r 16 --no-latency
    ...the command's standard output...
    ```
    <!-- /sample -->

Options go between ``sample`` and the colon: ``columns=N`` (the terminal width, 80 unless given) and ``timed``
(the output holds latency, which differs from run to run: such blocks are compared with every timing figure
masked, see ``normalise_timed``). Only ``seprof ...`` commands are allowed. Trailing spaces are stripped from
every line.

A column table is generated the same way from the tool's own column lists:

    <!-- columns: config -->      (or: stages, zoo)
    | column | meaning |
    ...
    <!-- /columns -->

Usage:
    python docs/samples.py            rewrite every block whose content differs from the tool's output
                                      (a timed block only when it differs beyond its timings)
    python docs/samples.py --all      rewrite every block, timed ones with this run's timings
    python docs/samples.py --check    rewrite nothing; list the blocks that differ and exit 1 if any does
    Files may be named to limit the run to them (default: README.md and docs/*.md).
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COLUMNS = 80

SAMPLE = re.compile(
    r"^<!-- sample(?P<options>[^:\n]*): (?P<command>[^\n]*?) -->\n(?P<body>.*?)^<!-- /sample -->$", re.M | re.S
)
COLUMN_TABLE = re.compile(r"^<!-- columns: (?P<kind>\w+) -->\n(?P<body>.*?)^<!-- /columns -->$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """One sample block of a Markdown file."""

    path: Path
    line: int  # of the opening marker, 1-based
    command: str  # as the reader types it: "seprof ..."
    columns: int
    timed: bool
    body: str  # what the file holds between the markers

    @property
    def args(self) -> list[str]:
        """The command's arguments after ``seprof``."""
        return shlex.split(self.command)[1:]

    @property
    def where(self) -> str:
        return f"{_shown(self.path)}:{self.line}"


def _shown(path: Path) -> str:
    """A path as messages show it: relative to the repository where it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def markdown_files() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _options(text: str, where: str) -> tuple[int, bool]:
    columns, timed = DEFAULT_COLUMNS, False
    for word in text.split():
        if word == "timed":
            timed = True
        elif word.startswith("columns=") and word[8:].isdigit() and int(word[8:]) > 0:
            columns = int(word[8:])
        else:
            raise ValueError(f"{where}: unknown sample option {word!r} (columns=N, timed)")
    return columns, timed


def blocks_of(path: Path) -> list[Block]:
    """The sample blocks of one file, in order."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in SAMPLE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        where = f"{_shown(path)}:{line}"
        command = match["command"]
        if not command.startswith("seprof ") or any(c in command for c in "|<>;&`$\\"):
            raise ValueError(f"{where}: a sample runs one seprof command, nothing else: {command!r}")
        columns, timed = _options(match["options"], where)
        found.append(Block(path, line, command, columns, timed, match["body"]))
    return found


def all_blocks(paths: list[Path] | None = None) -> list[Block]:
    return [block for path in (paths or markdown_files()) for block in blocks_of(path)]


def run(block: Block) -> str:
    """The command's standard output at the block's width, as the seprof command line prints it (in this
    process, through typer's test runner: no terminal, so no live status and the width from COLUMNS)."""
    from typer.testing import CliRunner

    from seprof.cli import app

    result = CliRunner().invoke(app, block.args, env={"COLUMNS": str(block.columns)})
    if result.exit_code != 0:
        raise RuntimeError(
            f"{block.where}: `{block.command}` exited {result.exit_code}: {result.stderr.strip()[-2000:]}"
        )
    return result.stdout


def render(block: Block, output: str) -> str:
    """The block's body for this output: a text fence whose first line shows the command."""
    lines = [line.rstrip() for line in output.rstrip("\n").split("\n")]
    return "```text\n$ " + block.command + "\n" + "\n".join(lines) + "\n```\n"


# --- timed samples: every timing figure masked, the rest compared ---

BOX = re.compile(r"^[\u2500-\u257f]+$")  # a token made of box-drawing characters only: table borders
SIGN = r"[+\-\u2212]?"
NUMBER = r"\d[\d,]*(?:\.\d+)?"
DECIMAL = r"\d[\d,]*\.\d+"  # ratios, CIs and medians always print decimals; stage ranges (2–5) and shapes do not
TIMING_PATTERNS = [
    # the machine: its CPU's name and how many CPUs and threads it has differ from one machine to the next
    (re.compile(r"CPU \([^)]*\)"), "CPU (#)"),
    (re.compile(r"\(CPU [^,;)]*"), "(CPU #"),
    (re.compile(r"\b\d+ threads? of \d+ CPUs?\b"), "# threads of # CPUs"),
    (re.compile(r"\b\d+ threads?\b"), "# threads"),
    # what the timing concluded, in words
    (re.compile(r", not distinguishable from no change"), ""),
    (re.compile(r"(?<![\w.])n\.s\."), "#"),
    # latency percentages and their confidence intervals
    (re.compile(rf"{SIGN}{NUMBER}% latency"), "#% latency"),
    (re.compile(rf"CI {SIGN}{NUMBER}% to {SIGN}{NUMBER}%"), "CI #% to #%"),
    # ratios and their confidence intervals
    (re.compile(rf"{DECIMAL}×"), "#×"),
    (re.compile(rf"{SIGN}{DECIMAL}\s?[–…]\s?{SIGN}{DECIMAL}"), "#–#"),
    # times, rates and counts of samples
    (re.compile(rf"{SIGN}{NUMBER}\s?(?:ms|µs|s)\b"), "# s"),
    (re.compile(rf"{NUMBER}\s?GB/s"), "# GB/s"),
    (re.compile(r"\b\d+ (round|sample|call)s?\b"), r"# \1s"),
    # bare decimals are timings (medians in ms, a ratio worked out in a legend): parameter counts are whole
    # numbers, MACs carry a unit (G, M) or are whole, and every percentage has its % sign
    (re.compile(rf"(?<![\w.,]){SIGN}\d+\.\d+(?![\w.%×]|,\d|\s?[GMKT]\b|\s?pp\b)"), "#"),
]


def normalise_timed(text: str) -> list[str]:
    """The words of a timed sample with every timing figure masked and the layout left out.

    Masked: milliseconds and seconds, ×ratios and their CIs, latency percentages and their CIs, counts of
    rounds, samples and calls, the verdict "not distinguishable from no change" / "n.s.", and the machine's
    CPU name and CPU/thread counts. Layout is left out by comparing words: runs of spaces, line breaks and
    table borders (which move when a timing gets wider) do not count. Parameter counts, MACs and their
    percentages stay as they are, so they are still compared exactly."""
    for pattern, replacement in TIMING_PATTERNS:
        text = pattern.sub(replacement, text)
    return [word for word in text.split() if not BOX.match(word)]


def same(block: Block, expected: str, actual: str) -> bool:
    """Whether a block's committed body and a fresh one agree: exactly, or for a timed block after
    ``normalise_timed``."""
    if block.timed:
        return normalise_timed(expected) == normalise_timed(actual)
    return expected == actual


# --- column tables ---


def column_table(kind: str) -> str:
    """The Markdown table of one export's columns, from the tool's own list."""
    if kind == "config":
        from seprof.report import CONFIG_COLUMNS as columns
    elif kind == "stages":
        from seprof.report import STAGE_COLUMNS as columns
    elif kind == "zoo":
        from seprof.zoo import ZOO_COLUMNS as columns
    else:
        raise ValueError(f"unknown column table {kind!r} (config, stages, zoo)")
    rows = [f"| `{name}` | {meaning.replace('|', '&#124;')} |" for name, meaning in columns.items()]
    return "| column | meaning |\n|---|---|\n" + "\n".join(rows) + "\n"


# --- the command ---


def refresh(path: Path, check: bool, everything: bool) -> list[str]:
    """Bring one file's blocks up to date (or only compare them, with ``check``); the blocks that differed."""
    text = path.read_text(encoding="utf-8")
    differing: list[str] = []
    blocks = {block.line: block for block in blocks_of(path)}

    def sample(match: re.Match) -> str:
        block = blocks[text.count("\n", 0, match.start()) + 1]
        print(f"{block.where}: {block.command}", file=sys.stderr, flush=True)
        fresh = render(block, run(block))
        if same(block, block.body, fresh) and not everything:
            return match[0]
        differing.append(f"{block.where}: {block.command}" + (" (timed)" if block.timed else ""))
        return match[0][: match.start("body") - match.start()] + fresh + "<!-- /sample -->"

    def columns(match: re.Match) -> str:
        fresh = column_table(match["kind"])
        if match["body"] == fresh and not everything:
            return match[0]
        line = match.string.count("\n", 0, match.start()) + 1
        differing.append(f"{_shown(path)}:{line}: columns {match['kind']}")
        return match[0][: match.start("body") - match.start()] + fresh + "<!-- /columns -->"

    new = COLUMN_TABLE.sub(columns, SAMPLE.sub(sample, text))
    if not check and new != text:
        path.write_text(new, encoding="utf-8")
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("files", nargs="*", type=Path, help="Markdown files (default: README.md and docs/*.md)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block differs")
    parser.add_argument("--all", action="store_true", help="rewrite every block, timed ones included")
    args = parser.parse_args(argv)
    paths = [path.resolve() for path in args.files] or markdown_files()
    differing = [entry for path in paths for entry in refresh(path, args.check, args.all)]
    if args.check:
        for entry in differing:
            print(f"differs: {entry}")
        print(f"{len(differing)} block(s) differ from the tool's output" if differing else "every block matches")
        return 1 if differing else 0
    print(f"rewrote {len(differing)} block(s)" + "".join(f"\n  {entry}" for entry in differing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
