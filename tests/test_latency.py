import pytest
import torch
from torch import nn

from seprof.errors import DeviceError, OptionError
from seprof.latency import Timing, quartiles, ratio, resolve_device, time_models, torch_threads


class Recorder(nn.Module):
    def __init__(self, name, log):
        super().__init__()
        self.name, self.log = name, log

    def forward(self, x):
        self.log.append(self.name)
        return x * 2


def test_models_are_interleaved_with_rotating_order():
    log = []
    models = {n: Recorder(n, log) for n in ("a", "b", "c")}
    samples = []
    setup, timings = time_models(models, (1, 4, 4), runs=3, warmup=2, on_sample=lambda: samples.append(1))
    number = setup.number
    assert log[:9] == ["a", "a", "a", "b", "b", "b", "c", "c", "c"]  # warm-up 2 + calibration 1 each
    timed = log[9::number]
    assert timed == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert len(samples) == 9 and all(t.runs == 3 for t in timings.values())
    assert setup.runs == 3 and setup.warmup == 2 and setup.batch == 1 and setup.device == "cpu"


def test_number_of_calls_per_sample_reaches_the_minimum_sample_time():
    setup, timings = time_models({"m": nn.Identity()}, (1,), runs=2, warmup=0)
    assert setup.number > 1  # an identity call is far below 20 ms
    assert all(t > 0 for t in timings["m"].samples_ms)


def test_statistics():
    t = Timing((1.0, 2.0, 3.0, 4.0, 100.0))
    assert t.median_ms == 3.0 and t.iqr_ms == 2.0 and t.runs == 5
    assert quartiles([5.0]) == (5.0, 5.0, 5.0)
    assert ratio(Timing((2.0, 4.0, 6.0)), Timing((1.0, 2.0, 2.0))) == (2.0, 2.0, 2.5)


def test_threads_are_restored():
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(OptionError, match="--device 'tpu' is not one of auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_timing():
    setup, timings = time_models({"m": nn.Conv2d(3, 8, 3).cuda().eval()}, (3, 32, 32), device=torch.device("cuda"), runs=3)
    assert setup.device == "cuda" and timings["m"].runs == 3


def test_bad_settings():
    for bad in ({"runs": 0}, {"warmup": -1}, {"batch": 0}, {"threads": 0}):
        with pytest.raises(OptionError, match="is invalid"):
            time_models({"m": nn.Identity()}, (1,), **bad)
