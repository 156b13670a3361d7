"""The block options on inject/compare, ``seprof sweep`` and ``seprof paper`` through the command line."""

import csv
import io
import json

import torch
from typer.testing import CliRunner

import seprof
from seprof.cli import app
from seprof.surgery import se_modules

runner = CliRunner()


def run(*args, columns="200"):
    return runner.invoke(app, list(args), env={"COLUMNS": columns})


def flat(text):
    return " ".join(text.split())


def test_inject_with_every_knob_reports_exact_counts_and_names_the_block():
    result = run("inject", "resnet50", "--block", "scse", "--scse-combine", "max", "--no-bias", "--gate", "tanh",
                 "--squeeze", "max", "--divisor", "8", "--no-latency", "--details")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "resnet50 · scSE (r=16, max), max squeeze, tanh gate, hidden width rounded to a multiple of 8, no biases" \
        in text
    assert "pool compares" in text and "tanh gates" in text and "combine ops" in text and "sSE MACs" in text
    # divisor 8 at r=16 gives C/16 exactly for every ResNet-50 width (all multiples of 128): the paper's count
    assert "+2,530,048" in text


def test_sweep_without_latency_is_one_table_and_one_row_per_point(tmp_path):
    out = tmp_path / "s.csv"
    result = run("sweep", "resnet50", "--r", "2,4,8,16,32", "--stages", "each,all", "--no-bias", "--no-latency",
                 "--csv", str(out))
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "resnet50 · 25 configurations · input 3×224×224" in text and "Latency: not measured" in text
    assert result.stdout.count("┃ configuration ") == 1
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 26 and rows[0]["config"] == "base" and rows[0]["block"] == ""
    by_name = {r["config"]: r for r in rows}
    for r, added in ((2, 20_119_552), (4, 10_059_776), (8, 5_029_888), (16, 2_514_944), (32, 1_257_472)):
        row = by_name[f"se_r{r}_nobias@all"]
        assert int(row["params_added"]) == int(row["analytic_exact"]) == int(row["analytic_paper"]) == added
        assert (row["block"], row["r"], row["bias"], row["stage_set"], row["position"]) == (
            "se", str(r), "False", "all", "standard")
    assert by_name["se_r16_nobias@5"]["se_stages"] == "5" and by_name["se_r16_nobias@5"]["stage_set"] == "5"
    assert all(int(r["params_added"]) == int(r["analytic_exact"]) for r in rows[1:])


def test_sweep_blocks_and_positions_with_latency_and_a_plot(tmp_path):
    png, js = tmp_path / "s.png", tmp_path / "s.json"
    result = run("sweep", "resnet18", "--block", "se,sse,scse", "--position", "standard,pre", "--input", "3x32x32",
                 "--runs", "2", "--warmup", "0", "--device", "cpu", "--plot", str(png), "--json", str(js))
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(js.read_text())
    names = [c["config"] for c in data["configs"]]
    assert names == ["base", "se_r16@all", "se_r16_pre@all", "sse@all", "sse_pre@all", "scse_r16_add@all",
                     "scse_r16_add_pre@all"]
    assert all(c["latency_ms"] > 0 for c in data["configs"])
    sse = data["configs"][3]
    assert (sse["block"], sse["r"], sse["combine"], sse["squeeze"]) == ("sse", None, None, None)
    text = flat(result.stdout)
    assert "sSE · pre" in text and "every one: stages all" in text and "median ms" in text and "2 rounds" in text


def test_sweep_stage_sets_read_naturally():
    result = run("sweep", "resnet18", "--stages", "4+5,each", "--input", "3x64x64", "--no-latency")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    for label in ("SE · 4+5", "SE · 2", "SE · 5", "every one: r=16"):
        assert label in text


def test_a_variant_checkpoint_loads_back_whole(tmp_path):
    path = tmp_path / "m.pt"
    result = run("inject", "resnet18", "--block", "scse", "--position", "identity", "--scse-combine", "max", "-r",
                 "8", "--input", "3x64x64", "--no-latency", "--save", str(path))
    assert result.exit_code == 0, result.output
    payload = torch.load(path, weights_only=True)
    assert payload["block"]["block"] == "scse" and payload["block"]["position"] == "identity" and payload["r"] == 8
    model = seprof.load(path)
    assert len(se_modules(model)) == 8 and model.state_dict().keys() == payload["state_dict"].keys()
    assert all(m.se.spec == seprof.BlockSpec("scse", 8, combine="max", position="identity")
               for _, m in se_modules(model))
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_paper_prints_each_figure_beside_the_exact_one(tmp_path):
    out = tmp_path / "p.csv"
    result = run("paper", "--csv", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    table10 = {r["row"]: r for r in rows if r["where"] == "Table 10"}
    for r, total in ((2, 45_676_584), (4, 35_616_808), (8, 30_586_920), (16, 28_071_976), (32, 26_814_504)):
        assert int(table10[f"r = {r}"]["seprof"]) == total
    assert "cannot be matched" in table10["r = 4"]["note"] and "matches" in table10["r = 16"]["note"]
    table14 = {r["row"]: int(r["seprof"]) for r in rows if r["where"] == "Table 14"}
    assert table14 == {"SE": 28_071_976, "SE-PRE": 25_557_032 + 1_991_168, "SE-POST": 28_071_976,
                       "SE-Identity": 28_071_976}
    claim = next(r for r in rows if r["row"] == "without the last stage's SE: ~4%")
    assert float(claim["seprof"]) == round(100 * 942_080 / 25_557_032, 4)
    text = flat(result.stdout)
    assert "Hu et al., arXiv 1709.01507 v4" in text and "is v1.5" in text and "ResNet v1" in text


def test_the_paper_fits_80_columns_without_cutting_a_number():
    result = run("paper", columns="80")
    assert result.exit_code == 0, result.output
    assert "45.68 M" in result.stdout and "…" not in result.stdout
    assert result.stdout.count("┃ row ") == 1  # one table: a figure's printed value, seprof's and its note together
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ r = 4 "))
    assert [cell.strip() for cell in row.split("│")[1:-1]] == ["r = 4", "params", "35.7 M", "35.62 M", "+0.08 M", "[3]"]
    assert "[3] cannot be matched: the exact count rounds to 35.6 M" in result.stdout


def test_sweep_json_names_the_bias_every_point_shares(tmp_path):
    out = tmp_path / "s.json"
    result = run("sweep", "resnet18", "--r", "4,8", "--no-bias", "--input", "3x64x64", "--no-latency", "--json",
                 str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["bias"] is False and data["block"] is None and {c["bias"] for c in data["configs"][1:]} == {False}


def test_the_paper_block_prints_what_0_4_printed_word_for_word():
    """The default block, position and knobs are the paper's: `seprof inject resnet50 --r 16 --no-latency --details`
    at 120 columns is the output seprof 0.4.0 printed, kept in tests/golden (regenerate it on purpose only), but
    for 0.8.0's changes: the bottom line on one line; SE's squeeze a tensor mean, so fvcore and thop count its FC
    MACs alone (fvcore without the pool's 5,519,360 adds, thop without its (H·W+1)·C ops, 5,534,464), name its
    16 means as not counted, and the counters' notes and the work table's legend say so."""
    from pathlib import Path

    golden = Path(__file__).parent / "golden" / "inject_resnet50_r16_no_latency_120.txt"
    result = run("inject", "resnet50", "--r", "16", "--no-latency", "--details", columns="120")
    assert result.exit_code == 0, result.output
    assert result.stdout == golden.read_text(encoding="utf-8")


def test_a_short_sweep_names_each_point_in_every_timing_run_and_details_say_what_went_uncounted():
    result = run("sweep", "resnet18", "--r", "4,8", "--input", "3x32x32", "--runs", "2", "--warmup", "0", "--batch",
                 "1,2", "--device", "cpu", columns="80")
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1].strip() for line in result.stdout.splitlines() if line.startswith("│ SE")]
    assert rows == ["SE (r=4)", "SE (r=8)", "SE (r=4)", "SE (r=8)"]  # batch 1's table, then batch 2's
    details = run("sweep", "resnet18", "--r", "4,8", "--input", "3x32x32", "--no-latency", "--details").stdout
    assert "Not counted in the SE model:" in details and "aten::sigmoid" in details


def test_verbose_shows_the_whole_report_with_the_spreads():
    result = run("inject", "resnet18", "--input", "3x32x32", "--runs", "3", "--warmup", "0", "--device", "cpu", "-v")
    assert result.exit_code == 0, result.output
    assert "IQR ms" in result.stdout and "Not counted in the SE model:" in result.stdout
