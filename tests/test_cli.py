import json

import pytest
import torch
from typer.testing import CliRunner

import seprof
from seprof.cli import app
from seprof.report import threads_label

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def test_inject_resnet50_static_report():
    result = run("inject", "resnet50", "--r", "16", "--no-latency")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("25,392", "133,248", "792,960", "1,579,392", "fvcore", "thop", "torch flop_counter",
                 "aten::mul ×16", "not measured (--no-latency)"):
        assert text in out, text
    assert (
        "Parameters: base 25,557,032 → SE 28,088,024 (+2,530,992, +9.90%). The paper's formula counts FC weights "
        "only: 2,514,944 (+9.84%); FC biases add 16,048. Measured"
    ) in " ".join(out.split())
    total = next(line for line in out.splitlines() if "│ total" in line)
    assert total.split("│")[6:10] == ["            2,514,944 ", " 2,530,992 ", " 2,530,992 ", "     9.90% "]


def test_bias_and_rounding_are_told_apart_when_r_does_not_divide_c():
    result = run("inject", "resnet18", "--r", "3", "--input", "3x64x64", "--no-latency")
    text = " ".join(result.stdout.split())
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
    no_bias = run("compare", "resnet50", "--strip-stage", "5", "--no-bias", "--no-latency")
    assert "+9.84%" in no_bias.stdout and "+3.69%" in no_bias.stdout and "942,080" in no_bias.stdout


def test_compare_defaults_to_stripping_the_last_stage(tmp_path):
    result = run("compare", "resnet18", "--input", "3x64x64", "--no-latency", "--csv", str(tmp_path / "c.csv"))
    assert result.exit_code == 0, result.output
    assert "SE in stages 2,3,4 " in result.stdout
    assert "se_strip_5" in (tmp_path / "c.csv").read_text()


def test_stages_table():
    result = run("stages", "resnet50")
    assert result.exit_code == 0
    for text in ("56×56", "7×7", "SE_4_1..SE_4_6", "Bottleneck.bn3", "2048"):
        assert text in result.stdout


def test_models_list():
    result = run("models")
    assert result.exit_code == 0 and all(name in result.stdout for name in seprof.list_models())


def test_inject_with_latency_and_every_output(tmp_path):
    paths = {k: str(tmp_path / f"out.{k}") for k in ("csv", "stages.csv", "json", "pt")}
    result = run("inject", "resnet18", "--input", "3x64x64", "--runs", "3", "--warmup", "1", "--device", "cpu",
                 "--csv", paths["csv"], "--stages-csv", paths["stages.csv"], "--json", paths["json"],
                 "--save", paths["pt"], "--stages", "4,5")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # the title wraps where the CPU's name is long
    assert "Latency of forward (inference mode) on cpu" in text and "3 interleaved samples per model" in text
    data = json.loads(open(paths["json"]).read())
    assert data["timing"]["runs"] == 3 and data["timing"]["budget_s"] is None  # --runs alone: exactly 3
    assert data["configs"][1]["se_stages"] == "4,5"
    assert threads_label(data["timing"]) in text and data["timing"]["cpus"] >= 1 and data["timing"]["stopped"] == "rounds"
    assert data["configs"][1]["latency_ms"] > 0
    model = seprof.load(paths["pt"])
    assert len(seprof.surgery.se_modules(model)) == 4
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    payload = torch.load(paths["pt"], weights_only=True)
    assert payload["model"] == "resnet18" and payload["stages"] == [4, 5]
    assert model.state_dict().keys() == payload["state_dict"].keys()


@pytest.mark.parametrize(
    "args,message",
    [
        (["inject", "resnet5"], "unknown model 'resnet5': did you mean resnet50"),
        (["inject", "resnet50", "--r", "0"], "--r 0 is invalid"),
        (["inject", "resnet50", "--r", "300"], "--r 300 is larger than the 256 channels of stage 2"),
        (["inject", "resnet50", "--stages", "6"], "stage 6 is not available: this model's stages are 2, 3, 4, 5"),
        (["inject", "resnet50", "--stages", "x"], "--stages 'x' is not a comma-separated list"),
        (["inject", "resnet50", "--input", "3x224"], "--input '3x224' is not C x H x W"),
        (["inject", "resnet50", "--device", "tpu"], "--device 'tpu' is not one of auto, cpu, cuda"),
        (["inject", "resnet50", "--r", "abc"], "Invalid value for '--r'"),
        (["compare", "--strip-stage", "7"], "stage 7 is not available: SE is in stages 2, 3, 4, 5"),
        (["stages", "vgg17"], "unknown model 'vgg17': did you mean vgg19, vgg16, vgg13?"),
        (["models", "--family", "transformers"], "unknown family 'transformers': choose from resnet, regnetx"),
        (["inject", "resnet18", "--threads", "-1"], "--threads -1 is invalid"),
        (["inject", "resnet18", "--no-latency", "--batch", "0"], "--batch 0 is invalid"),
        (["inject", "resnet18", "--no-latency", "--device", "gpu"], "--device 'gpu' is not one of"),
        (["compare", "resnet18", "--runs", "0"], "--runs 0 is invalid"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, tmp_path):
    out = tmp_path / "r.csv"
    if args[0] in ("inject", "compare"):
        args = [*args, "--csv", str(out)]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seprof: error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_asked_for_but_absent():
    result = run("inject", "resnet18", "--device", "cuda")
    assert result.exit_code == 2 and "CUDA is not available" in result.stderr


def test_unwritable_output_is_refused_before_any_work(tmp_path):
    result = run("inject", "resnet50", "--json", str(tmp_path / "no" / "r.json"))
    assert result.exit_code == 2 and "folder" in result.stderr and "does not exist" in result.stderr


def test_a_run_that_fails_writes_no_checkpoint_or_report(tmp_path):
    pt, out = tmp_path / "m.pt", tmp_path / "r.csv"
    result = run("inject", "resnet18", "--input", "3x64x64", "--runs", "0", "--save", str(pt), "--csv", str(out))
    assert result.exit_code == 2 and "--runs 0 is invalid" in result.stderr
    assert not pt.exists() and not out.exists()


def test_bare_command_shows_help_without_an_error_line():
    result = run()
    assert "Usage" in result.stdout and "error" not in result.stderr


def test_existing_output_is_not_clobbered_by_a_failed_run(tmp_path):
    out = tmp_path / "r.csv"
    out.write_text("keep me")
    result = run("inject", "resnet50", "--r", "999", "--csv", str(out))
    assert result.exit_code == 2 and out.read_text() == "keep me"


def test_debug_shows_the_traceback():
    result = run("inject", "resnet50", "--r", "0", "--debug")
    assert result.exit_code != 0 and isinstance(result.exception, seprof.SeprofError)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"seprof {seprof.__version__}"


def test_help_states_the_timing_defaults():
    text = " ".join(run("compare", "--help").stdout.replace("│", " ").split())
    for default in ("[default: (at least 20, adaptive within --budget 30)]", "[default: (30, unless --runs is given alone)]",
                    "[default: (torch's; on the CPU at most the usable CPUs - 1, at least 1)]"):
        assert default in text
