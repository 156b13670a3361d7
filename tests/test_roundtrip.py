"""Save → load for every torchvision builder: the checkpoint of each of the 121 round-trips on the meta device
(keys, shapes, module versions), and the smallest builder of each family round-trips for real, with identical
outputs. The full real sweep is benchmarks/roundtrip.py."""

import functools
import io
import math

import pytest
import torch

import seprof
from seprof.checkpoint import checked, payload, rebuild
from seprof.families import FAMILIES, Call
from seprof.measure import num_params
from seprof.models import MODEL_FAMILIES, build_model, default_input_shape, harness_of, list_models, source_of
from seprof.stages import find_sites
from seprof.surgery import inject_sites, se_modules

# models whose every block has SE of its own: seprof inject adds none; saved without seprof's blocks (stages
# []), seprof.load rebuilds them as built
AS_BUILT = {f"efficientnet_b{i}" for i in range(8)} | {"maxvit_t"} | {
    f"regnet_y_{size}" for size in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf")}


@functools.lru_cache(maxsize=1)
def meta_base(name):
    """The model as built, on the meta device (shared: every use below copies it before any change)."""
    return build_model(name, "meta")


@functools.cache
def params(name):
    return num_params(meta_base(name))


def probe_shape(name):
    """The model's input at 224×224, where stages are numbered: a pass at another size would take a second one
    there (``find_sites``), so the recipe's input is this one; a model built for its input (vit_h_14 at 518)
    runs at that."""
    usual = default_input_shape(name)
    return usual if source_of(name).built_for_input(name) else (*usual[:-2], 224, 224)


def sites(name):
    return find_sites(meta_base(name), probe_shape(name), harness=harness_of(name))


def versions(state_dict):
    return state_dict._metadata


@pytest.mark.parametrize("name", list_models(task=None))
def test_every_builders_checkpoint_round_trips_on_the_meta_device(name):
    """Standard SE in every stage (beside the model's own with add_missing where it has blocks without one);
    the payload through torch.save and torch.load(weights_only=True), rebuilt by the step seprof.load uses."""
    found = sites(name)
    native = bool(found.native)
    usual = list(probe_shape(name))
    assert bool(found.sites) == (name not in AS_BUILT)
    model = inject_sites(meta_base(name), found.sites, share=True) if found.sites else meta_base(name)
    stages = sorted({m.stage for _, m in se_modules(model)})
    buffer = io.BytesIO()
    torch.save(payload(model, name=name, stages=stages, input_shape=usual, add_missing=native), buffer)
    buffer.seek(0)
    data = checked(name, torch.load(buffer, weights_only=True))
    state = data["state_dict"]
    assert all(t.is_meta for t in state.values())
    rebuilt = rebuild(name, data, meta_base(name))
    expected = rebuilt.state_dict()
    assert list(state) == list(expected) == list(model.state_dict())
    assert [t.shape for t in state.values()] == [t.shape for t in expected.values()]
    assert versions(state) == versions(expected) == versions(model.state_dict())
    assert len(se_modules(rebuilt)) == len(se_modules(model)) == len(found.sites)
    assert num_params(rebuilt) == num_params(model) >= params(name)


def smallest(family):
    """The builder of ``family`` with the fewest parameters (ties: the first by name)."""
    return min((name for name, f in MODEL_FAMILIES.items() if f == family),
               key=lambda name: (params(name), name))


def small_input(name):
    """The smallest square (and, for video, shortest) input a meta-device pass of ``name`` runs on; a detector
    resizes its image to its own size and gets 3×64×64."""
    harness = harness_of(name)
    usual = default_input_shape(name)
    if harness.call is Call.IMAGES:
        return (3, 64, 64)
    model = harness.runnable(meta_base(name))
    clips = [t for t in (4, 8) if t < usual[1]] + [usual[1]] if len(usual) == 4 else [None]
    shapes = sorted(((usual[0], *([t] if t else []), s, s) for t in clips for s in (32, 64, 96, 128, 224)
                     if s <= min(usual[-2:])), key=math.prod)
    for shape in shapes:
        try:
            with torch.no_grad():
                model(torch.empty(1, *shape, device="meta"))
            return shape
        except (RuntimeError, ValueError, AssertionError, IndexError):
            continue
    return usual


def tensors(output):
    """Every tensor in what a model returns (a tensor, or dicts, lists and tuples of them), in order."""
    if isinstance(output, torch.Tensor):
        return [output]
    values = output.values() if isinstance(output, dict) else output
    return [t for v in values for t in tensors(v)]


@pytest.fixture
def one_thread():
    """Real passes on one thread: the inputs are small, and a pass split over two threads waits on the other
    whenever the machine is busy (several times slower here when it is)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.usefixtures("one_thread")
def test_the_smallest_builder_of_each_family_saves_and_loads_with_identical_outputs(family, tmp_path):
    """Saved from a build of another seed (its BN statistics and other float buffers scaled by 1 + U(0, 0.01)),
    so a rebuild that kept any fresh weight would differ; outputs in eval mode at a small input."""
    name = smallest(family)
    harness = harness_of(name)
    found = sites(name)
    model = build_model(name, "cpu", seed=1)
    if found.sites:  # the sites found on the meta device; this build is the test's own, so it is not copied
        model = inject_sites(model, found.sites, share=True)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for value in model.state_dict(keep_vars=True).values():
            if not isinstance(value, torch.nn.Parameter) and value.is_floating_point():
                value.mul_(1 + 0.01 * torch.rand(value.shape, generator=generator))
    path = tmp_path / "m.pt"
    stages = sorted({m.stage for _, m in se_modules(model)})
    seprof.save(path, model, name=name, stages=stages, input_shape=list(probe_shape(name)),
                add_missing=bool(found.native))
    loaded = seprof.load(path)
    a, b = model.eval().state_dict(), loaded.eval().state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert repr(loaded) == repr(model)  # the same modules, blocks and settings
    x = torch.randn(1, *small_input(name), generator=generator)
    for m in (model, loaded):
        resize_to(m, x.shape[-1])
    expected, got = outputs(model, harness, x), outputs(loaded, harness, x)
    assert expected and len(expected) == len(got) and all(torch.equal(e, g) for e, g in zip(expected, got))


def resize_to(model, side):
    """A detector that resizes each image to a size of its own (FCOS: 800) resizes it to ``side`` instead (its
    weights unchanged); one with a fixed size (SSD: 300) keeps it."""
    transform = getattr(model, "transform", None)
    if transform is not None and getattr(transform, "fixed_size", None) is None:
        transform.min_size, transform.max_size = (side,), side


def outputs(model, harness, x):
    """Every tensor ``model`` returns for the batch ``x``. A detector: what its backbone and neck (where SE
    goes) return for the image its transform makes (the post-processing of a random-weight detector's boxes is
    most of its time, and holds no weights: its heads' weights are compared above). RAFT: 2 flow updates."""
    with torch.no_grad():
        if harness.call is Call.IMAGES:
            return tensors(harness.tracing(model)(model.transform(list(x))[0].tensors))
        if harness.call is Call.PAIR:
            return tensors(model(x, x, num_flow_updates=2))
        return tensors(model(x))
