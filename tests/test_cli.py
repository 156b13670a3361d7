import json
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

import seprof
from seprof.cli import app
from seprof.report import threads_label

runner = CliRunner()


def run(*args, env=None):
    return runner.invoke(app, list(args), env=env)


def flat(text):
    return " ".join(text.split())


def test_inject_resnet50_static_report():
    result = run("inject", "resnet50", "--r", "16", "--no-latency", "--details", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("25,392", "133,248", "792,960", "1,579,392", "fvcore", "thop", "torch's flop counter",
                 "aten::mul\u00a0×16", "Latency: not measured."):
        assert text in out, text
    assert (
        "Parameters: base 25,557,032 → SE 28,088,024 (+2,530,992, +9.90%). The paper's formula gives 2,514,944 "
        "(+9.84%); FC biases add 16,048."
    ) in flat(out)
    total = next(line for line in out.splitlines() if "│ total" in line)
    assert [cell.strip() for cell in total.split("│")[1:-1]] == [
        "total", "", "16", "", "", "2,514,944", "2,530,992", "2,530,992", "9.90%", "100%"]
    # fvcore counts SE's FC MACs alone (2,514,944; not the squeeze's mean): 0.061% of its 4,111,512,576
    assert out.splitlines()[-1] == ("Bottom line: resnet50 with SE (r=16) in stages 2–5: +9.90% parameters, +0.061% "
                                    "MACs (fvcore), latency not measured.")


def test_the_default_report_is_one_screen_and_details_bring_back_the_rest():
    result = run("inject", "resnet50", "--r", "16", "--no-latency", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert len(out.splitlines()) <= 30, out
    for text in ("25,392", "133,248", "792,960", "1,579,392", "2,530,992", "2,514,944", "+9.90%"):
        assert text in out, text
    assert "Not counted" not in out and "--details names them" in flat(out)
    details = run("inject", "resnet50", "--r", "16", "--no-latency", "--details", env={"COLUMNS": "80"}).stdout
    assert "Not counted in the SE model:" in details and "aten::sigmoid" in details and len(details.splitlines()) > 60


def test_bias_and_rounding_are_told_apart_when_r_does_not_divide_c():
    result = run("inject", "resnet18", "-r", "3", "--input", "3x64x64", "--no-latency", "--details")
    text = flat(result.stdout)
    # biases: Σ (C//3 + C) over 2 blocks each of 64, 128, 256, 512 channels
    biases = 2 * sum(c // 3 + c for c in (64, 128, 256, 512))
    assert f"FC biases add {biases:,}" in text
    # weights: 2·C·(C//3) against the formula's 2·C²/3 → -2·C·(C mod 3)/3 per block
    rounding = sum(2 * (2 * c * (c // 3) - 2 * c * c / 3) for c in (64, 128, 256, 512))
    assert f"the real hidden width C//r changes the weights by {rounding:+,.1f}" in text


def test_compare_strip_stage_5():
    result = run("compare", "--strip-stage", "5", "--no-latency")
    assert result.exit_code == 0, result.output
    assert "+9.90%" in result.stdout and "+3.72%" in result.stdout and "951,600" in result.stdout
    # fvcore counts the FC MACs of stages 2–4's SE alone, 24,576 + 131,072 + 786,432 = 942,080 (not the squeeze's
    # mean): 0.023% of its 4,111,512,576
    assert ("resnet50 with SE (r=16) in stages 2–4: +3.72% parameters, +0.023% MACs (fvcore), latency not "
            "measured.") in result.stdout
    no_bias = run("compare", "resnet50", "--strip-stage", "5", "--no-bias", "--no-latency")
    assert "+9.84%" in no_bias.stdout and "+3.69%" in no_bias.stdout and "942,080" in no_bias.stdout


def test_list_options_take_commas_and_repetition_alike(tmp_path):
    outputs = []
    for args in (["--strip-stage", "4,5"], ["--strip-stage", "4", "--strip-stage", "5"]):
        out = tmp_path / f"{len(outputs)}.csv"
        result = run("compare", "resnet18", "--input", "3x64x64", "--stages", "2", "--stages", "3,4,5",
                     "--no-latency", "--csv", str(out), *args)
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1] and "se_strip_4_5" in outputs[0]


def test_compare_defaults_to_stripping_the_last_stage(tmp_path):
    result = run("compare", "resnet18", "--input", "3x64x64", "--no-latency", "--csv", str(tmp_path / "c.csv"))
    assert result.exit_code == 0, result.output
    assert "SE in stages 2–4 " in result.stdout
    assert "se_strip_5" in (tmp_path / "c.csv").read_text()


def test_stages_table():
    result = run("stages", "resnet50")
    assert result.exit_code == 0
    for text in ("56×56", "7×7", "SE_4_1..SE_4_6", "Bottleneck.bn3", "2048"):
        assert text in result.stdout


def test_models_lists_every_name_in_natural_order_without_building_any():
    result = run("models")
    assert result.exit_code == 0
    names = [line.split("│")[1].strip() for line in result.stdout.splitlines() if line.startswith("│ ")]
    assert names == list(seprof.list_models())
    assert names.index("resnet18") < names.index("resnet50") < names.index("resnet101")


def test_models_details_are_streamed_in_order():
    result = run("models", "--family", "vit", "--details", "--workers", "1")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("vit_")]
    assert [r[0] for r in rows] == ["vit_b_16", "vit_b_32", "vit_h_14", "vit_l_16", "vit_l_32"]
    assert rows[0] == ["vit_b_16", "vit", "4", "12", "—", "3x224x224"]


def test_the_model_list_read_from_torchvision_source_is_torchvisions_registry():
    from seprof.families import model_names

    assert model_names() == list(seprof.list_models())


def test_help_and_version_and_the_model_list_import_no_torch():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from seprof.cli import app\n"
        "for args in (['--help'], ['inject', '--help'], ['compare', '--help'], ['--version'], ['models']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'pandas', 'fvcore', 'thop') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_shows_readable_metavars_and_the_defaults():
    text = flat(run("compare", "--help").stdout)
    assert text.startswith("Usage: ") and text.split(" ", 2)[2].startswith("compare [OPTIONS] [MODEL]")
    for shown in ("-r, --r INTEGER", "--stages LIST", "--strip-stage LIST", "--input CxHxW", "--mode [infer|train]",
                  "--device [auto|cpu|cuda]", "--dtype [float32|float16|bfloat16]", "--budget SECONDS",
                  "--csv PATH", "[default: (20, then adaptive, within --budget 30)]",
                  "[default: (30, unless --runs is given alone)]",
                  "[default: (torch's; on the CPU at most the usable CPUs - 1, at least 1)]"):
        assert shown in text, shown
    for unreadable in ("<bool>", "<int>", "<str>", "{model}", "list[int]"):
        assert unreadable not in text
    assert flat(run("inject", "--help").stdout).split(" ", 2)[2].startswith("inject [OPTIONS] MODEL ")


def test_inject_with_latency_and_every_output(tmp_path):
    paths = {k: str(tmp_path / f"out.{k}") for k in ("csv", "stages.csv", "json", "pt")}
    result = run("inject", "resnet18", "--input", "3x64x64", "--runs", "6", "--warmup", "1", "--device", "cpu",
                 "--csv", paths["csv"], "--stages-csv", paths["stages.csv"], "--json", paths["json"],
                 "--save", paths["pt"], "--stages", "4,5", "--details")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "Latency, batch 1" in text and "6 rounds in" in text and ": the number asked for;" in text
    data = json.loads(open(paths["json"]).read())
    assert data["timing"]["runs"] == 6 and data["timing"]["budget_s"] is None  # --runs alone: exactly 6
    assert data["configs"][1]["se_stages"] == "4,5"
    assert (threads_label(data["timing"]) in text and data["timing"]["cpus"] >= 1
            and data["timing"]["stopped"] == "rounds")
    assert data["configs"][1]["latency_ms"] > 0
    ratio = data["configs"][1]["latency_ratio"]
    assert f"{100 * (ratio - 1):+.1f}% latency (CPU " in text and "batch 1; 95% CI" in text
    model = seprof.load(paths["pt"])
    assert len(seprof.surgery.se_modules(model)) == 4
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    payload = torch.load(paths["pt"], weights_only=True)
    assert payload["model"] == "resnet18" and payload["stages"] == [4, 5]
    assert model.state_dict().keys() == payload["state_dict"].keys()
    assert result.stderr.splitlines() == [f"wrote {p}" for p in paths.values()]


def test_an_export_to_stdout_moves_the_report_to_stderr():
    result = run("inject", "resnet18", "--input", "3x64x64", "--no-latency", "--csv", "-", "--details")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith(
        "model,config,block,r,bias,squeeze,gate,divisor,combine,position,knobs,stage_set,se_stages,")
    assert len(result.stdout.splitlines()) == 3 and "SE parameters by stage" in result.stderr


def test_writes_go_through_a_symlink_to_its_target(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    result = run("inject", "resnet18", "--input", "3x64x64", "--no-latency", "--csv", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and target.read_text().startswith("model,config")
    assert sorted(os.listdir(tmp_path)) == ["link.csv", "real.csv"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_asked_for_but_absent():
    result = run("inject", "resnet18", "--device", "cuda")
    assert result.exit_code == 2 and "--device 'cuda' was asked for, but CUDA is not available" in result.stderr


def test_bare_command_shows_help_without_an_error_line():
    result = run()
    assert "Usage" in result.stdout and "error" not in result.stderr


def test_debug_shows_the_traceback():
    result = run("inject", "resnet50", "--r", "0", "--debug")
    assert result.exit_code != 0 and isinstance(result.exception, seprof.SeprofError)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"seprof {seprof.__version__}"


def test_attribute_without_latency_says_what_it_measured():
    result = run("compare", "resnet50", "--attribute", "--no-latency", "--details", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Latency was not measured, so the stages' SE-alone configurations are counted, not timed." in flat(
        result.stdout)


def test_too_few_rounds_give_no_ci_and_say_so():
    result = run("inject", "resnet18", "--input", "3x64x64", "--runs", "5", "--warmup", "0", "--device", "cpu",
                 "--details")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "batch 1; 5 rounds: too few for a CI)." in text and "(— with fewer than 6 rounds)" in text
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ SE in stages"))
    assert [cell.strip() for cell in row.split("│")][4] == "—"  # the 95% CI column


def test_list_entries_may_be_separated_by_spaces_as_by_commas():
    for typed in ("2 3", "2, 3", " 2,3 "):
        result = run("inject", "resnet18", "--stages", typed, "--input", "3x64x64", "--no-latency")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0] == "resnet18 · SE r=16, with FC biases · stages 2,3 · input 3×64×64"


def test_compare_works_by_default_where_se_is_in_one_stage_only():
    result = run("compare", "mobilenet_v3_small", "--add-missing", "--no-latency", "--json", "-")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["config"] for c in data["configs"]] == ["base", "se"]
    assert "SE is in one stage only (3): no configuration strips a stage, as stripping it leaves the base model." in (
        data["notes"])


def test_stages_all_is_the_default_spelled_out():
    default = run("inject", "resnet18", "--input", "3x64x64", "--no-latency", "--csv", "-")
    spelled = run("inject", "resnet18", "--input", "3x64x64", "--no-latency", "--csv", "-", "--stages", "ALL")
    assert default.exit_code == spelled.exit_code == 0, spelled.output
    assert default.stdout == spelled.stdout and "2,3,4,5" in spelled.stdout


def test_inject_draws_its_picture(tmp_path):
    out = tmp_path / "se.png"
    result = run("inject", "resnet18", "--input", "3x64x64", "--no-latency", "--plot", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and result.stderr == f"wrote {out}\n"


def test_every_command_that_takes_a_model_names_each_kind_of_model():
    for command in ("inject", "compare", "sweep", "stages"):
        text = flat(run(command, "--help").stdout)
        assert "timm:NAME" in text and "package.module:function" in text, command


def test_help_shows_the_option_groups_as_panels():
    text = run("inject", "--help").stdout
    headings = [line for line in text.splitlines() if line.endswith("options:")]
    assert headings == ["Model options:", "Block options:", "Timing options:", "Output options:"]
    sweep = flat(run("sweep", "--help").stdout)
    assert "-r, --r LIST SE reduction ratio r: the hidden width is C//r; several are swept together" in sweep
    assert "[default: (16)]" in sweep and "[default: (3)]" in sweep  # from BlockSpec() and TimingOptions()


def test_the_csv_keeps_whole_numbers_whole_and_graphs_a_flag():
    import csv
    import io

    result = run("inject", "resnet18", "--input", "3x32x32", "--runs", "2", "--warmup", "0", "--device", "cpu",
                 "--csv", "-")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["r"] for r in rows] == ["", "16"] and [r["latency_runs"] for r in rows] == ["2", "2"]
    assert [r["graphs"] for r in rows] == ["False", "False"]
    assert rows[0]["graphs_note"] == "no CUDA graphs on the CPU: the wall time is the time"


def test_no_command_takes_more_than_twelve_parameters():
    """Commands take option groups, not loose options (the groups are spread into what typer reads)."""
    import ast
    from pathlib import Path

    import seprof.cli

    tree = ast.parse(Path(seprof.cli.__file__).read_text(encoding="utf-8"))
    commands = [f for f in tree.body if isinstance(f, ast.FunctionDef)
                and any(getattr(d, "id", None) == "command" for d in f.decorator_list)]
    assert {f.name for f in commands} == {"inject", "compare", "sweep", "paper", "stages", "models", "zoo", "blocks"}
    for f in commands:
        count = len(f.args.args) + len(f.args.kwonlyargs)
        assert count <= 12, (f.name, count)
