"""The report fits the width it is given, with every number whole: at 80, 100, 120 and 200 columns, piped and
in a terminal, no line is wider than the console (but the bottom line's sentences, one line each on purpose),
nothing is cut short, and every number of the report printed without a width limit is printed there too."""

import io
import re
from collections import Counter

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

import seprof
from seprof.cli import app
from seprof.render import bottom_line, render_compare, render_inject

NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?")
WIDTHS = (80, 100, 120, 200)


@pytest.fixture(scope="module")
def static_report():
    return seprof.profile("resnet50", latency=False)


@pytest.fixture(scope="module")
def timed_report():
    return seprof.profile("resnet18", input_shape=(3, 64, 64), strip_stages=[[4, 5]], attribute=True,
                          batch=[1, 2], runs=6, warmup=0, memory=True, device="cpu")


def render(report, width, verbose=False, compare=False, terminal=False, details=True):
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=terminal, color_system=None)
    (render_compare if compare else render_inject)(console, report, verbose, details)
    return buffer.getvalue()


def check_fits(text, width, report):
    sentences = set(bottom_line(report))
    for line in text.splitlines():
        if line.removeprefix("Bottom line: ") in sentences:
            continue
        assert cell_len(line) <= width, line
        assert "…" not in line, line


def numbers(text):
    return Counter(NUMBER.findall(text))


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_static_report_fits_with_every_number_whole(static_report, width, terminal):
    text = render(static_report, width, terminal=terminal)
    check_fits(text, width, static_report)
    wide = numbers(render(static_report, 1000))
    assert set(wide) <= set(numbers(text))
    # fvcore: base 4.1115 G, SE 4.1140 G (+2,514,944, the FC MACs: fvcore does not count the squeeze's mean)
    for value in ("2,530,992", "2,514,944", "25,557,032", "28,088,024", "1,579,392", "5,519,360",
                  "4.1115", "4.1140", "+9.90%", "+0.061%", "62.4%"):
        assert value in text, value


@pytest.mark.parametrize("verbose", [False, True], ids=["default", "verbose"])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_timed_comparison_fits_with_every_number_whole(timed_report, width, verbose):
    text = render(timed_report, width, verbose=verbose, compare=True)
    check_fits(text, width, timed_report)
    assert set(numbers(render(timed_report, 1000, verbose=verbose, compare=True))) <= set(numbers(text))


def test_a_narrow_table_is_split_and_repeats_its_key_column(static_report):
    text = render(static_report, 80)
    assert text.count("┃ stage ┃") >= 4  # the stage and work tables, each split in two
    assert render(static_report, 200).count("┃ stage ┃") == 2


def test_the_cli_fits_columns_when_piped_and_defaults_to_100():
    for env, width in (({"COLUMNS": "80"}, 80), ({"COLUMNS": None}, 100)):
        result = CliRunner().invoke(app, ["compare", "resnet50", "--no-latency", "--details"], env=env)
        assert result.exit_code == 0, result.output
        longest = max(cell_len(line) for line in result.stdout.splitlines() if not line.startswith("Bottom line"))
        assert width - 10 <= longest <= width


def test_one_latency_ratio_its_ci_and_what_it_is(timed_report):
    text = " ".join(render(timed_report, 120, compare=True).split())
    lat = timed_report.latency_runs[0].latency["se"]
    base = timed_report.latency_runs[0].latency["base"]
    assert f"{lat.ratio[1]:.3f}× │ {lat.ratio_ci[0]:.3f}–{lat.ratio_ci[1]:.3f}" in text
    assert "vs base: the median of the per-round ratios configuration / base, with its 95% bootstrap" in text
    assert (f"(here {lat.median_ms:.3f} / {base.median_ms:.3f} = {lat.median_ms / base.median_ms:.3f}, against "
            f"{lat.ratio[1]:.3f}×)") in text
    assert "IQR" not in text and "added ms" not in text.split("Where SE costs")[0]  # spreads only with verbose
    assert "IQR" in render(timed_report, 120, verbose=True, compare=True)


def test_the_bottom_line(static_report, timed_report):
    assert bottom_line(static_report) == [
        "resnet50 with SE (r=16) in stages 2–5: +9.90% parameters, +0.061% MACs (fvcore), latency not measured."]
    sentences = bottom_line(timed_report)
    assert len(sentences) == 2  # SE everywhere and stripped; each stage alone is told in the attribution table
    first = sentences[0]
    # fvcore at 64×64: 148,965,376 MACs without SE, +87,040 with it (the FC MACs alone), +0.058%
    assert first.startswith("resnet18 with SE (r=16) in stages 2–5: +0.76% parameters, +0.058% MACs (fvcore), latency ")
    threads = timed_report.latency_runs[0].setup["threads"]
    assert re.search(r"at batch 1 \(95% CI [+-]\d+\.\d% to [+-]\d+\.\d%(, not distinguishable from no change)?\) "
                     r"and [+-]\d+\.\d% at batch 2 \(95% CI .*\), on CPU .*, " + f"{threads} thread", first)


@pytest.mark.parametrize("width", [30, 40, 60])
def test_below_80_columns_numbers_stay_whole(timed_report, width):
    """Too narrow for some tables even split: their label column wraps, or the table runs wider than the
    console, but no number is ever cut."""
    text = render(timed_report, width, verbose=True, compare=True)
    assert "…" not in text
    assert set(numbers(render(timed_report, 1000, verbose=True, compare=True))) <= set(numbers(text))


@pytest.mark.parametrize("width", WIDTHS)
def test_the_short_report_is_one_screen_with_the_answer(static_report, width):
    """The default report: at most 30 lines at 80 columns (every wrapped line counted), one stage table, the
    totals, a footer naming the counter and the unit, and the bottom line; every number in it whole."""
    text = render(static_report, width, details=False)
    check_fits(text, width, static_report)
    rows = sum(max(1, -(-cell_len(line) // width)) for line in text.splitlines())
    assert rows <= 30, text
    # fvcore: 4,111,512,576 MACs without SE, + the FC MACs 2,514,944 = 4,114,027,520 with it
    for value in ("25,392", "133,248", "792,960", "1,579,392", "2,530,992", "2,514,944", "25,557,032", "28,088,024",
                  "4,111,512,576", "4,114,027,520", "+9.90%", "+0.061%", "fvcore", "FLOPs = 2 × MACs",
                  "--details names them"):
        assert value in text, value
    assert text.count("┃ stage ┃") == 1 and "aten::" not in text and " G " not in text
    assert text.splitlines()[-1].startswith("Bottom line: resnet50 with SE (r=16) in stages 2–5: +9.90% parameters")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_short_comparison_is_one_table_with_latency_beside(timed_report, width):
    text = render(timed_report, width, compare=True, details=False)
    check_fits(text, width, timed_report)
    assert text.count("┃ configuration ") == 1 + (len(timed_report.latency_runs) - 1)  # batch 2: its own table
    lat = timed_report.latency_runs[0].latency["se"]
    assert f"{lat.ratio[1]:.3f}×" in text and f"{lat.ratio_ci[0]:.3f}–{lat.ratio_ci[1]:.3f}" in text
    assert "+0.76%" in text and "peak MiB" in text
    assert ("Left out at this width:" in text) == (width < 200)
    left_out = text.split("Left out at this width:")[1].split("(--details")[0] if width < 200 else ""
    dropped = [" ".join(header.split()) for header in left_out.split(",")]
    assert (f"{timed_report.config('se').params_added:+,}" in text) == ("added" not in dropped)
