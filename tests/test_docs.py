"""The README and docs/: every sample output is what the tool prints today, every link resolves, and the README
stays short with the main job on its first screen.

The samples are written by ``docs/samples.py`` (``python docs/samples.py`` refreshes them); here every sample's
command runs again, in this process, and its output is compared with the committed text: exactly, or for a
sample marked ``timed`` with its timing figures masked (``normalise_timed``)."""

import difflib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

_spec = importlib.util.spec_from_file_location("docs_samples", DOCS / "samples.py")
samples = sys.modules["docs_samples"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(samples)

BLOCKS = samples.all_blocks()

MAIN_JOB = "python3 -m venv .venv && . .venv/bin/activate && pip install . && seprof inject resnet50 --r 16"
TESTS = 'python3 -m venv .venv && . .venv/bin/activate && pip install ".[test]" && python -m pytest'


# --- every sample is the tool's output ---


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.where} {b.command}" for b in BLOCKS])
def test_sample_is_the_tools_output(block):
    fresh = samples.render(block, samples.run(block))
    if samples.same(block, block.body, fresh):
        return
    if block.timed:
        expected, actual = samples.normalise_timed(block.body), samples.normalise_timed(fresh)
    else:
        expected, actual = block.body.splitlines(), fresh.splitlines()
    diff = "\n".join(difflib.unified_diff(expected, actual, "committed", "tool", lineterm=""))
    pytest.fail(f"{block.where}: `{block.command}` prints something else (python docs/samples.py rewrites it):\n{diff}")


def test_every_sample_shows_its_command_first():
    assert BLOCKS
    for block in BLOCKS:
        assert block.command.startswith("seprof ")
        assert block.body.startswith(f"```text\n$ {block.command}\n"), block.where
        assert block.body.endswith("\n```\n"), block.where


def test_column_tables_are_the_tools_columns():
    text = (DOCS / "exports.md").read_text(encoding="utf-8")
    tables = {m["kind"]: m["body"] for m in samples.COLUMN_TABLE.finditer(text)}
    assert sorted(tables) == ["config", "stages", "zoo"]
    for kind, body in tables.items():
        assert body == samples.column_table(kind), f"docs/exports.md: the {kind} columns (python docs/samples.py)"


def test_samples_py_writes_then_checks_a_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Text.\n\n<!-- sample: seprof models --family resnet -->\n<!-- /sample -->\n\nMore.\n")
    assert len(samples.refresh(page, check=True, everything=False)) == 1
    assert "```text" not in page.read_text()  # --check changes nothing
    assert len(samples.refresh(page, check=False, everything=False)) == 1
    text = page.read_text()
    assert text.startswith("Text.\n\n<!-- sample: seprof models --family resnet -->\n```text\n$ seprof models")
    assert "resnext50_32x4d" in text and text.endswith("```\n<!-- /sample -->\n\nMore.\n")
    assert samples.refresh(page, check=True, everything=False) == []
    assert samples.main(["--check", str(page)]) == 0
    page.write_text(text.replace("resnext50_32x4d", "resnext50_32x5d"))
    assert samples.main(["--check", str(page)]) == 1


def test_samples_run_seprof_commands_only(tmp_path):
    page = tmp_path / "page.md"
    for marker in ("sample: python -c 1", "sample: seprof models | head", "sample colums=80: seprof models"):
        page.write_text(f"<!-- {marker} -->\n<!-- /sample -->\n")
        with pytest.raises(ValueError):
            samples.blocks_of(page)


# --- the normaliser of timed samples ---

TIMED = """\
$ seprof inject resnet18 --device cpu --runs 8
resnet18 · SE r=16, with FC biases · stages 2–5 · input 3×224×224
Parameters: base 11,689,512 → 11,778,592 (+89,080, +0.76%); the paper's formula: 87,040 (+0.74%).
MACs per image (fvcore): base 1,819,065,856 → 1,819,905,536 (+839,680, +0.046%); thop 1.8249 G.
Latency, batch 1: CPU (AMD EPYC) · 1 thread of 2 CPUs · float32 · forward, inference mode
8 rounds in 1.2 s: the number asked for; each sample the mean of 1 call, after 3 warm-up calls
┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━┓
┃ configuration    ┃ median ms ┃ vs base ┃      95% CI ┃
┡━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━┩
│ base (no SE)     │    46.140 │       — │           — │
│ SE in stages 2–5 │    48.098 │  1.035× │ 1.006–1.045 │
└──────────────────┴───────────┴─────────┴─────────────┘
it need not equal the ratio of the two medians (here 48.098 / 46.140 = 1.042, against 1.035×); added +1.9 ms.
Bottom line: resnet18 with SE (r=16) in stages 2–5: +0.76% parameters, +0.046% MACs (fvcore), +3.5% latency \
(CPU AMD EPYC, 1 thread of 2 CPUs, float32, batch 1; 95% CI +0.6% to +4.5%).
"""

# The same run on another machine: every timing different, wider numbers moving the table's borders and the
# legend's line breaks, another CPU, more threads, more calls per sample, a CI that now includes zero.
RETIMED = """\
$ seprof inject resnet18 --device cpu --runs 8
resnet18 · SE r=16, with FC biases · stages 2–5 · input 3×224×224
Parameters: base 11,689,512 → 11,778,592 (+89,080, +0.76%); the paper's formula: 87,040 (+0.74%).
MACs per image (fvcore): base 1,819,065,856 → 1,819,905,536 (+839,680, +0.046%); thop 1.8249 G.
Latency, batch 1: CPU (Intel Xeon Platinum 8480+) · 7 threads of 8 CPUs · float32 · forward, inference mode
8 rounds in 12.75 s: the number asked for; each sample the mean of 3 calls, after 3 warm-up calls
┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ configuration    ┃ median ms ┃ vs base ┃        95% CI ┃
┡━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ base (no SE)     │   146.140 │       — │             — │
│ SE in stages 2–5 │     8.098 │ 10.998× │ 0.906–11.045 │
└──────────────────┴───────────┴─────────┴───────────────┘
it need not equal the ratio of the two medians
(here 8.098 / 146.140 = 0.055, against 10.998×); added -0.25 ms.
Bottom line: resnet18 with SE (r=16) in stages 2–5: +0.76% parameters, +0.046% MACs (fvcore), -0.2% latency \
(CPU Intel Xeon Platinum 8480+, 7 threads of 8 CPUs, float32, batch 1; 95% CI -9.4% to +14.5%, not \
distinguishable from no change).
"""


def test_normaliser_passes_changed_timings_machines_and_layout():
    assert samples.normalise_timed(TIMED) == samples.normalise_timed(RETIMED)
    assert samples.normalise_timed(TIMED) != TIMED.split()  # something was masked


@pytest.mark.parametrize("old, new", [
    ("11,778,592 (+89,080", "11,778,593 (+89,081"),  # a parameter count
    ("87,040 (+0.74%)", "87,040 (+0.75%)"),  # the paper's share
    ("(+839,680, +0.046%)", "(+839,680, +0.047%)"),  # MACs added, as a percentage
    ("1,819,905,536", "1,819,905,537"),  # a MAC count
    ("thop 1.8249 G", "thop 1.8250 G"),  # MACs in G: a decimal with its unit
    ("+0.76% parameters", "+0.77% parameters"),  # the bottom line's parameters
    ("stages 2–5", "stages 2–4"),  # a stage range is not a CI
    ("3×224×224", "3×225×224"),  # an input shape is not a ratio
    ("SE in stages 2–5 │", "SE in stages 3–5 │"),
    ("float32", "bfloat16"),
    ("batch 1;", "batch 8;"),
])
def test_normaliser_still_compares_parameters_and_macs(old, new):
    assert old in TIMED
    assert samples.normalise_timed(TIMED) != samples.normalise_timed(TIMED.replace(old, new, 1))


def test_untimed_samples_compare_exactly():
    block = samples.Block(README, 1, "seprof stages resnet18", 80, False, "")
    assert samples.same(block, "a  b\n", "a  b\n")
    assert not samples.same(block, "a  b\n", "a b\n")
    assert not samples.same(block, "1.006×\n", "1.007×\n")


# --- the README ---


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_readme_is_short():
    assert len(_lines(README)) <= 250


def test_readme_first_screen_has_the_commands_a_sample_and_the_answer():
    first = _lines(README)[:40]
    assert MAIN_JOB in first and TESTS in first  # whole lines, exactly as typed
    assert any(line.startswith("<!-- sample") for line in first)
    assert any("+9.90%" in line for line in first)


def test_readme_first_sample_is_the_main_job_ending_in_its_bottom_line():
    block = samples.blocks_of(README)[0]
    assert block.command == "seprof inject resnet50 --r 16 --no-latency" and block.columns == 80
    last = block.body.rstrip("\n").split("\n")[-2]  # the line before the closing fence
    assert "+9.90% parameters" in last  # the bottom line's sentence


def test_readme_links_every_docs_page():
    targets = {t.split("#")[0] for _, t in _links(README)}
    for page in ("README", "models", "counting", "latency", "variants", "api", "exports"):
        assert f"docs/{page}.md" in targets, page
        assert (DOCS / f"{page}.md").is_file(), page


def test_docs_index_links_every_page():
    targets = {t.split("#")[0] for _, t in _links(DOCS / "README.md")}
    assert {p.name for p in DOCS.glob("*.md") if p.name != "README.md"} <= targets


# --- links ---


def _outside_code(text):
    """The Markdown text without fenced code blocks (links and headings there are not links and headings)."""
    return re.sub(r"^```.*?^```$", "", text, flags=re.M | re.S)


def _links(path):
    text = _outside_code(path.read_text(encoding="utf-8"))
    return [(path, m[1]) for m in re.finditer(r"\]\(([^)\s]+)\)", text)]


def _anchors(path):
    """GitHub's heading anchors of a Markdown file: lowercase, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.*?)#*\s*$", _outside_code(path.read_text(encoding="utf-8")), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


PAGES = [README, *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_resolves(page):
    for _, target in _links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        where, _, anchor = target.partition("#")
        file = (page.parent / where).resolve() if where else page
        assert file.exists(), f"{page.name}: {target} does not exist"
        if anchor:
            assert file.suffix == ".md", f"{page.name}: {target} has an anchor but is not a Markdown page"
            assert anchor in _anchors(file), f"{page.name}: no heading #{anchor} in {file.name}"


def test_slugs_are_githubs():
    page = DOCS / "latency.md"
    assert "where-se-costs-by-stage---attribute" in _anchors(page)
    assert "on-a-gpu-wall-time-device-time-dispatch-and-the-memory-floor" in _anchors(page)
