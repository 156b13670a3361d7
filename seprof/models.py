"""Model names → models with random weights (nothing is downloaded).

A model is named one of three ways, each answered by its source (``ModelSource``), tried in the order of
``SOURCES``: a timm model, ``timm:NAME`` (``seprof.timm_models``); a user's own model, named by an importable
factory, ``package.module:function``, called once, with no arguments; a torchvision builder name, in one of the
families of ``seprof.families``. ``source_of(name)`` picks the source; ``check_model_name``, ``model_family``,
``default_input_shape``, ``harness_of`` and ``build_model`` ask it.

``build_model`` builds on the meta device when only shapes are needed (no memory, no initialisation): it
tries ``torch.device("meta")`` first, then, for constructors that compute on tensors (RegNet's width
schedule calls ``.tolist()``), builds on the CPU with each parameter and buffer moved to meta as it is
registered, so no weight memory is ever filled.
"""

from __future__ import annotations

import abc
import contextlib
import difflib
import functools
import importlib
import inspect
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
import torchvision
from torch import nn

from .errors import ModelError, OptionError, UnknownModelError, first_line
from .families import (
    DEFAULT_INPUT_SHAPE,
    FAMILIES,
    Family,
    Task,
    check_family,  # noqa: F401 - seprof.models.check_family, as in 0.3
    counterpart_of,
    family_of,
    input_origin,
    input_shape_of,
    is_factory,
    natural_key,
    task_of,
)
from .harness import PLAIN, Harness
from .timm_models import build_timm, check_timm_name, is_timm, timm_family, timm_input_shape, timm_names

# Every model torchvision registers (all tasks), mapped to its family, in natural order.
MODEL_FAMILIES: dict[str, str] = {
    name: family
    for name in sorted(torchvision.models.list_models(), key=natural_key)
    if (family := family_of(name)) is not None
}


def list_models(family: str | None = None, task: Task | str | None = Task.CLASSIFICATION) -> tuple[str, ...]:
    """Names of the torchvision models seprof supports, in natural order: of one task (classification by
    default; None for every task), optionally of one family only."""
    task = None if task is None else Task.parse("task", task)
    return tuple(name for name, fam in MODEL_FAMILIES.items()
                 if family in (None, fam) and task in (None, task_of(name)))


class ModelSource(abc.ABC):
    """Where the models named one way come from, and what is known of them by name.

    An answer that needs the model to exist checks the name first, raising UnknownModelError with the closest
    names. A model's facts are methods of its source, each read in one place: ``input_shape`` comes from
    seprof's family table for torchvision and from timm's default ``pretrained_cfg``.

    A small abstract base class rather than a Protocol: what most sources share (no user code runs, a model's
    stages are found at its usual input, it runs as it is, no names to list) is written here once, a source
    overrides what differs, and a source that leaves a question unanswered cannot be made.

    Attributes:
        title: the source's name ("torchvision", "timm", "factory").
        runs_user_code: building a model imports and calls code the user named, once (its model is copied,
            never rebuilt), so a checkpoint naming it is rebuilt only when the caller trusts the file.
        stages_follow_input: the model's stages follow the input it is given (a model of one's own may take
            any rank), rather than its usual input's.
    """

    title: str = ""
    runs_user_code: bool = False
    stages_follow_input: bool = False

    @abc.abstractmethod
    def claims(self, name: str) -> bool:
        """Whether ``name`` is this source's to answer for."""

    @abc.abstractmethod
    def check_name(self, name: str) -> str:
        """``name`` if this source has that model, else an UnknownModelError naming the closest names."""

    @abc.abstractmethod
    def family(self, name: str) -> Family | None:
        """The family of the model (None where the source has none: a user's factory)."""

    @abc.abstractmethod
    def input_shape(self, name: str) -> tuple[int, ...]:
        """The input the model is usually run at: C×H×W, or C×T×H×W for video."""

    def harness(self, name: str) -> Harness:
        """How the model is run and where SE goes in it: as it is, by default."""
        return PLAIN

    def built_for_input(self, name: str) -> bool:
        """Whether the model is built for the input size it is given (its stages then follow that input)."""
        return False

    def input_origin(self, name: str) -> str:
        """Where the usual input comes from, in words for a report's header."""
        return f"{self.title}'s usual input"

    @abc.abstractmethod
    def build(self, name: str, device: torch.device, input_shape: Sequence[int] | None = None) -> nn.Module:
        """The model with random weights on ``device`` ("meta" allocates nothing), as built (train mode), for
        ``input_shape`` where its builder takes the input size (its usual input when None)."""

    def names(self) -> tuple[str, ...]:
        """The names this source lists, in its order (none by default: a factory is any function)."""
        return ()

    def __repr__(self) -> str:
        return f"<{self.title} models>"


class TorchvisionSource(ModelSource):
    """torchvision's builders seprof supports (``resnet50``, ``fcn_resnet50``, ``quantized_resnet50``...), with
    the families and usual inputs of ``seprof.families``."""

    title = "torchvision"

    def claims(self, name: str) -> bool:
        return name in MODEL_FAMILIES

    def check_name(self, name: str) -> str:
        if name in MODEL_FAMILIES:
            return name
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else ("choose a torchvision model name, timm:NAME or "
                                                                              "package.module:function")
        raise UnknownModelError(f"unknown model {name!r}: {hint}")

    def family(self, name: str) -> Family:
        return FAMILIES[MODEL_FAMILIES[self.check_name(name)]]

    def input_shape(self, name: str) -> tuple[int, ...]:
        return input_shape_of(self.check_name(name))

    def input_origin(self, name: str) -> str:
        return input_origin(self.check_name(name))

    def built_for_input(self, name: str) -> bool:
        return bool(self.family(name).size_argument)

    def harness(self, name: str) -> Harness:
        family = self.family(name)
        counterpart = counterpart_of(name)
        task = task_of(name)
        return Harness(
            task=task, call=family.call, traced=family.traced, body=family.body, heads=family.heads,
            counterpart=functools.partial(build_model, counterpart, "meta") if counterpart else None,
            counterpart_name=counterpart, frames_stride=family.frames_stride, train_batch=family.train_batch,
            float_note="built in float (quantize=False): its QuantStub, DeQuantStub and FloatFunctional add run "
            "as float ops" if task is Task.QUANTIZATION else "")

    def build(self, name: str, device: torch.device, input_shape: Sequence[int] | None = None) -> nn.Module:
        shape = tuple(input_shape or self.input_shape(name))
        try:
            model = _construct(functools.partial(_torchvision, name, shape), device)
        except OptionError:
            raise
        except (ValueError, AssertionError) as error:  # the builder refuses the input size it is given
            if not self.built_for_input(name):
                raise
            raise OptionError("input_shape", shape, f"is not a size {name} can be built for: "
                              f"{first_line(error, with_type=False)}") from error
        if name in FROZEN_BN:
            _freeze_batchnorm(model.backbone.body)
        return model

    def names(self) -> tuple[str, ...]:
        """Every task's models, in natural order (``list_models`` selects a task or a family)."""
        return list_models(task=None)


class TimmSource(ModelSource):
    """timm's models, ``timm:NAME`` or ``timm:NAME.TAG``, run as they are (``seprof.timm_models``)."""

    title = "timm"

    def claims(self, name: str) -> bool:
        return is_timm(name)

    def check_name(self, name: str) -> str:
        return check_timm_name(name)

    def family(self, name: str) -> Family:
        return timm_family(self.check_name(name))

    def input_shape(self, name: str) -> tuple[int, ...]:
        return timm_input_shape(self.check_name(name))

    def input_origin(self, name: str) -> str:
        return f"the input_size of {name.removeprefix('timm:')}'s pretrained config in timm"

    def built_for_input(self, name: str) -> bool:
        """Whether the model's class takes ``img_size`` (timm's ViTs, Swin, BoTNet...): a fixed position
        embedding or attention grid, built for the input."""
        return _takes_image_size(self.check_name(name))

    def build(self, name: str, device: torch.device, input_shape: Sequence[int] | None = None) -> nn.Module:
        shape = tuple(input_shape or self.input_shape(name))
        if shape == self.input_shape(name) or len(shape) != 3 or not self.built_for_input(name):
            return _construct(functools.partial(build_timm, name), device)
        try:
            return _construct(functools.partial(build_timm, name, img_size=shape[-2:]), device)
        except (ValueError, AssertionError, TypeError, RuntimeError) as error:  # it refuses the size it is given
            raise OptionError("input_shape", shape, f"is not a size {name} can be built for: "
                              f"{first_line(error, with_type=False)}") from error

    def names(self) -> tuple[str, ...]:
        """The models of the timm modules seprof has rules for, module by module."""
        return tuple(timm_names())


class FactorySource(ModelSource):
    """A user's own model, ``package.module:function``: the function is imported only to build the model, and
    called once, with no arguments; it has no family, and is probed at 3×224×224 unless given its input."""

    title = "factory"
    runs_user_code = True
    stages_follow_input = True

    def claims(self, name: str) -> bool:
        return is_factory(name)

    def check_name(self, name: str) -> str:
        return name

    def family(self, name: str) -> None:
        return None

    def input_shape(self, name: str) -> tuple[int, ...]:
        return DEFAULT_INPUT_SHAPE

    def input_origin(self, name: str) -> str:
        return "seprof's default for a model of one's own"

    def build(self, name: str, device: torch.device, input_shape: Sequence[int] | None = None) -> nn.Module:
        return _call_factory(name, device)


TORCHVISION, TIMM, FACTORY = TorchvisionSource(), TimmSource(), FactorySource()
# Tried in this order; the first that claims a name answers for it.
SOURCES: tuple[ModelSource, ...] = (TIMM, FACTORY, TORCHVISION)


def source_of(name: str) -> ModelSource:
    """The source of ``name``: the first of ``SOURCES`` that claims it, else torchvision's, whose answers then
    refuse ``name``, naming the closest torchvision models."""
    return next((source for source in SOURCES if source.claims(name)), TORCHVISION)


def model_family(name: str) -> Family | None:
    """The family of a supported model (None for a user's factory)."""
    return source_of(name).family(name)


def check_model_name(name: str) -> str:
    """Return ``name`` if supported (or a factory spec), else raise an error naming the closest names."""
    return source_of(name).check_name(name)


def object_input(model: nn.Module) -> tuple[tuple[int, ...], str]:
    """A model object's usual input, and where it comes from: the ``img_size`` a timm model was built for where
    it differs from its pretrained config's ``input_size``, else that ``input_size``; the ``image_size`` a
    torchvision ViT was built for, or the ``input_size`` of a MaxViT; else 3×224×224."""
    config = getattr(model, "pretrained_cfg", None)
    size = config.get("input_size") if isinstance(config, dict) else None
    built = getattr(getattr(model, "patch_embed", None), "img_size", None)  # timm: the size it was built for
    if isinstance(size, (tuple, list)) and len(size) == 3 and isinstance(built, (tuple, list)) and len(built) == 2 \
            and all(isinstance(d, int) and d > 0 for d in built) and tuple(built) != tuple(size[-2:]):
        return (size[0], *built), f"the img_size {type(model).__name__} was built for (timm)"
    if isinstance(size, (tuple, list)) and len(size) in (3, 4) and all(isinstance(d, int) for d in size):
        return tuple(size), f"the input_size of its pretrained config ({type(model).__name__}, timm)"
    side = getattr(model, "image_size", None)
    if isinstance(side, int) and not isinstance(side, bool) and side > 0:
        return (3, side, side), f"the image_size {type(model).__name__} was built for"
    if isinstance(model, torchvision.models.MaxVit):  # its first stage's grid is the input at stride 4
        height, width = model.blocks[0].grid_size
        return (3, 4 * height, 4 * width), f"the input_size {type(model).__name__} was built for (its first grid × 4)"
    return DEFAULT_INPUT_SHAPE, "seprof's default for a model object (give input_shape for another)"


def default_input_shape(name: str) -> tuple[int, ...]:
    """The input the model is usually run at, C×H×W (C×T×H×W for video; 3×224×224 for a user's factory)."""
    return source_of(name).input_shape(name)


@contextlib.contextmanager
def importable_here() -> Iterator[None]:
    """While active, the current folder (as it is now) comes first on ``sys.path``, as for ``python -m``."""
    folder = os.getcwd()
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # the user's code may have taken it out itself
            sys.path.remove(folder)


def load_factory(spec: str) -> Callable[[], nn.Module]:
    """The callable named by ``package.module:function``; the current folder is importable, as for python -m.

    Importing runs the module's code: whatever it raises, or a ``sys.exit`` in it, becomes one
    UnknownModelError. The factory must be callable with no arguments.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UnknownModelError(f"model {spec!r} is not package.module:function, e.g. mypkg.models:build_net")
    if module_name.partition(".")[0] == __name__.partition(".")[0]:
        raise UnknownModelError(f"model {spec!r} names seprof's own code, which builds no model: give a function "
                                "of yours that returns one, e.g. mypkg.models:build_net")
    try:
        # stdout carries only seprof's own output (a CSV with -)
        with importable_here(), contextlib.redirect_stdout(sys.stderr):
            module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - importing a user's module can raise anything, or exit
        raise UnknownModelError(f"cannot import {module_name!r} for model {spec!r}: {first_line(error)}") from error
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise UnknownModelError(f"module {module_name!r} has no {attr!r} (model {spec!r})")
    if not callable(factory):
        raise UnknownModelError(f"{spec!r} is not callable: it must be a function returning an nn.Module")
    try:
        inspect.signature(factory).bind()
    except TypeError as error:
        raise UnknownModelError(
            f"{spec} cannot be called with no arguments ({error}): seprof calls a factory with none; write a "
            "function that builds the model, e.g. def build(): return MyNet(64)") from error
    except ValueError:  # no signature to check (some builtins): calling it will tell
        pass
    return factory


_REGISTER_LOCK = threading.Lock()


@contextlib.contextmanager
def _register_on_meta() -> Iterator[None]:
    """While active, every parameter and buffer a module registers *in this thread* is moved to the meta
    device (other threads are unaffected; one such window at a time)."""
    with _REGISTER_LOCK:
        register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer
        owner = threading.get_ident()

        def parameter_on_meta(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
            if param is not None and param.device.type != "meta" and threading.get_ident() == owner:
                param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
            register_parameter(self, name, param)

        def buffer_on_meta(self: nn.Module, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None:
            if tensor is not None and tensor.device.type != "meta" and threading.get_ident() == owner:
                tensor = tensor.to("meta")
            register_buffer(self, name, tensor, persistent)

        nn.Module.register_parameter, nn.Module.register_buffer = parameter_on_meta, buffer_on_meta
        try:
            yield
        finally:
            nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer


_INIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _no_init_on_meta() -> Iterator[None]:
    """While active, ``torch.nn.init``'s functions return a meta tensor untouched (they could only write
    values it does not hold), skipping their fan-in arithmetic; real tensors are initialised as usual.
    Halves the time to build the 80 torchvision models on the meta device."""
    with _INIT_LOCK:
        saved = {name: getattr(nn.init, name) for name in dir(nn.init)
                 if name.endswith("_") and not name.startswith("_") and callable(getattr(nn.init, name))}

        def skipping(initialise: Callable) -> Callable:
            @functools.wraps(initialise)
            def initialise_unless_meta(tensor, *args, **kwargs):
                if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                    return tensor
                return initialise(tensor, *args, **kwargs)

            return initialise_unless_meta

        for name, initialise in saved.items():
            setattr(nn.init, name, skipping(initialise))
        try:
            yield
        finally:
            for name, initialise in saved.items():
                setattr(nn.init, name, initialise)


# Training-only heads left out: GoogLeNet's and Inception v3's auxiliary classifiers never run in eval mode,
# so their parameters would only dilute every percentage.
_BUILD_OPTIONS = {"googlenet": {"aux_logits": False}, "inception_v3": {"aux_logits": False}}
# Nothing is downloaded: no pretrained backbone under a segmentation or detection model; quantizable models
# are built in float (quantize=False), with their QuantStub/DeQuantStub and FloatFunctional add.
_TASK_OPTIONS = {Task.SEGMENTATION: {"weights_backbone": None}, Task.DETECTION: {"weights_backbone": None},
                 Task.QUANTIZATION: {"quantize": False}}


# torchvision builds these detectors' backbone bodies with FrozenBatchNorm2d whenever it loads weights (its
# builders pick nn.BatchNorm2d only for a model trained from scratch); seprof builds them that way too, so that
# their parameters are those of the models people use (fasterrcnn_resnet50_fpn: 41,755,286, as torchvision's
# documentation says; a frozen BN's scale and shift are buffers).
FROZEN_BN = frozenset({
    "fasterrcnn_resnet50_fpn", "fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_mobilenet_v3_large_320_fpn",
    "maskrcnn_resnet50_fpn", "keypointrcnn_resnet50_fpn", "retinanet_resnet50_fpn", "fcos_resnet50_fpn",
})


def _freeze_batchnorm(module: nn.Module) -> None:
    """Replace every BatchNorm2d under ``module`` by a FrozenBatchNorm2d of its width, on its device, in place."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in list(module.named_children()):
        if type(child) is nn.BatchNorm2d:
            with torch.device(child.weight.device):
                setattr(module, name, FrozenBatchNorm2d(child.num_features, child.eps))
        else:
            _freeze_batchnorm(child)


def harness_of(name: str) -> Harness:
    """How a model seprof knows by name is run and where SE goes in it (a factory or a timm model runs as it is)."""
    return source_of(name).harness(name)


def build_options(name: str, input_shape: Sequence[int] | None = None) -> dict:
    """The keyword arguments seprof gives torchvision's builder for ``name`` besides ``weights=None``: the input
    size where the builder takes it (ViT's ``image_size``, MaxViT's ``input_size``), its usual input's when
    ``input_shape`` is None."""
    options = {**_TASK_OPTIONS.get(task_of(name), {}), **_BUILD_OPTIONS.get(name.removeprefix("quantized_"), {})}
    argument = TORCHVISION.family(name).size_argument
    if argument:
        shape = tuple(input_shape or TORCHVISION.input_shape(name))
        height, width = shape[-2:]
        if argument == "image_size" and height != width:
            raise OptionError("input_shape", shape, f"is not square: {name} is built for a square image_size; give "
                              f"C x S x S, e.g. 3x{height}x{height}")
        options[argument] = height if argument == "image_size" else (height, width)
    return options


def _torchvision(name: str, input_shape: tuple[int, ...]) -> nn.Module:
    with warnings.catch_warnings():
        # GoogLeNet and Inception v3 warn that their default initialisation will change; seprof's weights
        # are random either way.
        warnings.simplefilter("ignore", FutureWarning)
        return torchvision.models.get_model(name, weights=None, **build_options(name, input_shape))


@functools.lru_cache(maxsize=64)
def _takes_image_size(name: str) -> bool:
    """Whether the class of timm model ``name`` takes ``img_size`` (read off a meta-device build)."""
    model = _construct(functools.partial(build_timm, name), torch.device("meta"))
    return "img_size" in inspect.signature(type(model)).parameters


def _construct(make: Callable[[], nn.Module], device: torch.device) -> nn.Module:
    """``make()`` on ``device``; on the meta device, with no weight memory filled and no initialisation run."""
    if device.type != "meta":
        with torch.device(device):
            return make()
    from .meta import ShapeOnly

    try:
        with torch.device("meta"), ShapeOnly(init=True), _no_init_on_meta(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. load_state_dict into meta tensors is a no-op, and says so
            return make()
    except (NotImplementedError, RuntimeError):
        pass
    # The constructor computes on tensors (e.g. RegNet's widths): build on the CPU, weights on meta.
    with _register_on_meta(), ShapeOnly(init=True), _no_init_on_meta(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make().to("meta")


_CALLING = threading.local()  # .specs: the factories this thread is calling now (one that runs seprof on itself)


def _call_factory(spec: str, device: torch.device) -> nn.Module:
    """Call a user's factory exactly once (its side effects happen once), with real weights on the CPU (or
    ``device``); a meta-device model is a weightless copy of that. Whatever the factory raises, or a
    ``sys.exit`` in it, becomes one ModelError; what it prints goes to stderr."""
    from .meta import meta_clone

    factory = load_factory(spec)
    calling = _CALLING.__dict__.setdefault("specs", set())
    if spec in calling:
        raise ModelError(f"{spec}() calls seprof on itself while it builds its model: a factory must return the "
                         "model without running seprof on the same factory")
    calling.add(spec)
    try:  # the factory may import its own helpers from the current folder too
        with torch.device("cpu" if device.type == "meta" else device), importable_here(), \
                contextlib.redirect_stdout(sys.stderr):
            model = factory()
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - a user's code can raise anything, or exit
        raise ModelError(f"{spec}() failed: {first_line(error)}") from error
    finally:
        calling.discard(spec)
    if isinstance(model, nn.Module) and device.type == "meta":
        return meta_clone(model)
    return model


def build_model(name: str, device: str | torch.device = "cpu", seed: int = 0,
                input_shape: Sequence[int] | None = None) -> nn.Module:
    """Build ``name`` with random weights, in eval mode, on ``device`` ("meta" allocates nothing).

    ``name`` is a torchvision model name, ``timm:NAME`` or a factory ``package.module:function``; its source
    (``source_of``) builds it, for ``input_shape`` where the builder takes the input size (ViT, MaxViT; the
    model's usual input when None). The weights depend on ``seed`` only; the caller's random state is left as
    it was.
    """
    source = source_of(name)
    source.check_name(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = source.build(name, torch.device(device), input_shape)
    if not isinstance(model, nn.Module):
        raise ModelError(f"{name!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()
