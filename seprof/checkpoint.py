"""Save an SE model's weights with what it takes to rebuild it, and load it back without running its code.

A checkpoint is a plain dict (loadable with ``torch.load(..., weights_only=True)``): the format name and
version, the base model's name (a torchvision name or a factory ``package.module:function``), r, bias, the
SE stages, the input shape used to find them, whether SE was added beside the model's own (``add_missing``),
and the state_dict of the SE model with its per-module versions (the ``_metadata`` of torch's state_dict, which
some modules, such as MNASNet's, need to load their state; files written by seprof 0.6.0 lack it, and load with
the rebuilt model's own).

Loading never imports anything the caller did not name: a torchvision name is rebuilt from torchvision; a
factory named in the file is imported and called only when the caller says so (``trust_factory=True``), and
otherwise the caller passes the base model (``base=``) or a factory of their own (``factory=``).
"""

from __future__ import annotations

import os
import stat
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .errors import ModelError, SeprofError, first_line
from .export import atomic_output
from .meta import deep_copy
from .models import MODEL_FAMILIES, build_model, harness_of, source_of
from .spec import BlockSpec, block_spec
from .surgery import inject, se_modules

FORMAT = "seprof-se-model"
VERSION = 2  # 2: the whole block under "block" (so that seprof 0.4, which reads 1 only, refuses it)
READS = (1, 2)


def payload(
    model: nn.Module,
    *,
    name: str,
    r: int | None = None,
    bias: bool | None = None,
    stages: Sequence[int],
    input_shape: Sequence[int],
    add_missing: bool = False,
    block: BlockSpec | None = None,
    heads: bool = False,
) -> dict[str, Any]:
    """The checkpoint of ``model`` as a dict, its tensors copied to the CPU (a snapshot: later changes to
    the model, such as timing in train mode, do not reach it; a meta model's tensors stay meta, shapes without
    values). ``block`` is the whole block (SE with ``r`` and ``bias`` when not given); the file holds its knobs
    under "block", and r and bias on their own too."""
    spec = block_spec(block, r, bias)
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": name,
        "r": spec.r,
        "bias": spec.bias,
        "block": spec.as_dict(),
        "stages": list(stages),
        "input_shape": list(input_shape),
        "add_missing": add_missing,
        "heads": heads,
        "state_dict": snapshot(model.state_dict()),
    }


def snapshot(state_dict: dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """A copy of ``state_dict`` that shares nothing with the model: its tensors detached and copied to the CPU
    (meta tensors stay meta), its per-module versions (``_metadata``) kept."""
    copied = OrderedDict((k, v.detach() if v.is_meta else v.detach().to("cpu", copy=True))
                         for k, v in state_dict.items())
    versions = getattr(state_dict, "_metadata", {})
    copied._metadata = {k: dict(v) for k, v in versions.items()}  # type: ignore[attr-defined]
    return copied


def write(path: str | os.PathLike, checkpoint: dict[str, Any]) -> None:
    """Write a checkpoint dict to ``path`` atomically (through a symlink to its target)."""
    with atomic_output(path) as tmp:
        torch.save(checkpoint, tmp)


def save(path: str | os.PathLike, model: nn.Module, **recipe: Any) -> None:
    """Write ``model``'s state_dict and its recipe (``name``, ``block`` or ``r`` and ``bias``, ``stages``,
    ``input_shape``, ``add_missing``; see ``payload``) to ``path`` atomically.

    ``stages`` must be the stages of seprof's blocks in ``model`` (what ``load`` puts back): empty for a model
    without them, such as one whose own SE blocks are measured as built, which ``load`` then rebuilds as built.
    """
    present = sorted({module.stage for _, module in se_modules(model)})
    given = recipe.get("stages")
    if isinstance(given, (list, tuple)) and sorted(set(given)) != present:
        raise ModelError(f"stages={list(given)} is not where the model holds seprof's blocks ("
                         f"{'stages ' + ', '.join(map(str, present)) if present else 'it holds none'}): a file saved "
                         f"so could not be loaded; give stages={present}")
    write(path, payload(model, **recipe))


# key → (type, what it must be)
_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "a model name"),
    "r": (int, "an integer of at least 1"),
    "bias": (bool, "true or false"),
    "stages": (list, "a list of stage numbers"),
    "input_shape": (list, "a list of three positive sizes"),
    "state_dict": (dict, "a dict of tensors"),
}


def checked(path: str | os.PathLike, data: Any) -> dict[str, Any]:
    """The checkpoint dict read from ``path`` (its block parsed under "spec"), or a ModelError naming the first
    thing wrong with it."""
    where = repr(str(path))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"{where} is not a seprof SE-model checkpoint (no format {FORMAT!r})")
    if type(data.get("version")) is not int or data.get("version") not in READS:
        raise ModelError(
            f"{where} is a seprof checkpoint of version {data.get('version')!r}; this seprof reads versions "
            f"{', '.join(map(str, READS))}"
        )
    for key, (kind, what) in _FIELDS.items():
        if key not in data:
            raise ModelError(f"{where} has no {key!r}: it is not a complete seprof checkpoint")
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ModelError(f"{where}: {key!r} is {value!r}, not {what}")
    ok = (
        data["r"] >= 1
        and all(isinstance(s, int) and not isinstance(s, bool) for s in data["stages"])
        and len(data["input_shape"]) in (3, 4)
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in data["input_shape"])
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data["state_dict"].items())
        and isinstance(data.get("add_missing", False), bool)
        and isinstance(data.get("heads", False), bool)
    )
    if not ok:
        raise ModelError(f"{where} holds a malformed recipe (r, stages, input_shape, add_missing, heads or "
                         "state_dict)")
    if data["version"] >= 2:
        if "block" not in data:
            raise ModelError(f"{where} has no 'block': it is not a complete seprof checkpoint")
        try:
            if not isinstance(data["block"], dict):
                raise TypeError(type(data["block"]).__name__)
            data["spec"] = BlockSpec.from_dict(data["block"])
        except (SeprofError, TypeError) as error:
            raise ModelError(f"{where} holds a malformed block ({first_line(error, with_type=False)})") from error
    else:  # written by seprof 0.4: SE with r and bias
        data["spec"] = BlockSpec(r=data["r"], bias=data["bias"])
    return data


def _base(
    path: str | os.PathLike, name: str, factory: Callable[[], nn.Module] | None, trust_factory: bool,
    input_shape: Sequence[int] | None = None,
) -> nn.Module:
    """The un-injected model a checkpoint names, built without running code the caller did not name."""
    if factory is None:
        source = source_of(name)
        if not source.claims(name):
            raise ModelError(
                f"{str(path)!r} names the model {name!r}, which is not a torchvision model seprof "
                "knows; pass base=<the model without SE>"
            )
        if not source.runs_user_code:
            return _unfilled(name, input_shape)
        if not trust_factory:
            raise ModelError(
                f"{str(path)!r} names the factory {name!r}: loading it would import and run that code; pass "
                "base=<the model without SE> or factory=<a function that builds it>, or trust_factory=True if "
                "you trust this file"
            )
        return build_model(name, "cpu", input_shape=input_shape)
    try:
        model = factory()
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # the caller's factory can raise anything, or exit
        raise ModelError(f"factory() failed: {first_line(error)}") from error
    if not isinstance(model, nn.Module):
        raise ModelError(f"factory returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _unfilled(name: str, input_shape: Sequence[int] | None = None) -> nn.Module:
    """The torchvision or timm model ``name`` (built for ``input_shape`` where its builder takes the size) on the
    CPU with its tensors allocated but not initialised (the file then fills every one of them), or built as
    usual where it holds a tensor its state_dict does not."""
    model = build_model(name, "meta", input_shape=input_shape)
    saved = set(model.state_dict())
    if any(key not in saved for key, _ in [*model.named_parameters(), *model.named_buffers()]):
        return build_model(name, "cpu", input_shape=input_shape)
    return model.to_empty(device="cpu")


def _read(path: str | os.PathLike) -> Any:
    """The object in a checkpoint file, read without running pickled code, or a ModelError."""
    where = repr(str(path))
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        info = None  # torch.load says what is wrong
    if info is not None and not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        raise ModelError(f"{where} is not a regular file (a device, FIFO or socket): give a checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ModelError(f"{where} does not exist") from error
    except IsADirectoryError as error:
        raise ModelError(f"{where} is a folder, not a checkpoint file") from error
    except Exception as error:  # a file that is not a torch checkpoint fails in many ways
        # torch's own message for a refused file suggests weights_only=False: never the advice for a file
        # that may be crafted, so only the kind of failure is passed on
        raise ModelError(f"{where} is not a checkpoint seprof can read: torch.load(..., weights_only=True) refused it "
                         f"({type(error).__name__}); seprof reads tensors and plain data only, never pickled "
                         "objects") from error


def _unusable(tensor: torch.Tensor, own: torch.Tensor) -> str | None:
    """Why ``tensor`` cannot be loaded in place of the model's ``own`` (what it is; what to save instead), or None."""
    if tensor.is_meta and not own.is_meta:
        return "a meta tensor, which holds no values: save the model with its weights on the CPU"
    if tensor.layout is not torch.strided:
        return f"a {str(tensor.layout).removeprefix('torch.')} tensor: save it dense (tensor.to_dense())"
    if tensor.is_quantized:
        return (f"a quantized tensor ({tensor.dtype}): seprof rebuilds the float model; save that model's "
                "state_dict")
    if tensor.dtype != own.dtype and (tensor.is_complex() or own.is_complex()
                                      or tensor.dtype.is_floating_point != own.dtype.is_floating_point):
        # another floating-point type is cast on loading, as torch's load_state_dict does
        return f"of dtype {tensor.dtype} where the model holds {own.dtype}: save it as tensor.to({own.dtype})"
    return None


def _module_versions(path: str | os.PathLike, state_dict: dict[str, torch.Tensor],
                     model_state: dict[str, torch.Tensor]) -> dict[str, dict]:
    """The per-module versions to load ``state_dict`` with: the file's (``_metadata``), or where it has none
    (seprof 0.6.0 dropped them) the rebuilt model's own."""
    versions = getattr(state_dict, "_metadata", None)
    if versions is None:
        return getattr(model_state, "_metadata", {})
    if not isinstance(versions, dict) or not all(isinstance(k, str) and isinstance(v, dict)
                                                 for k, v in versions.items()):
        raise ModelError(f"{str(path)!r} holds malformed module versions: its state_dict's _metadata is not a dict "
                         "of module path → dict; save the model's own state_dict (model.state_dict())")
    return versions


def fit(path: str | os.PathLike, model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Load ``state_dict`` into ``model`` with its module versions, or a ModelError saying which keys, tensors or
    shapes do not fit."""
    own = model.state_dict()
    keys = set(own)
    missing, unexpected = sorted(keys - set(state_dict)), sorted(set(state_dict) - keys)
    if missing or unexpected:
        parts = [f"{len(keys_)} {what} (e.g. {', '.join(keys_[:3])})"
                 for keys_, what in ((missing, "missing"), (unexpected, "unexpected")) if keys_]
        raise ModelError(f"{str(path)!r} does not fit the model it names: {' and '.join(parts)} state_dict keys")
    for key in own:
        why = _unusable(state_dict[key], own[key])
        if why is not None:
            raise ModelError(f"{str(path)!r} holds a tensor seprof cannot load: {key} is {why}")
    wrong = [k for k in sorted(keys) if tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise ModelError(f"{str(path)!r} does not fit the model it names: {len(wrong)} tensors have other shapes "
                         f"(e.g. {k}: {tuple(state_dict[k].shape)} in the file, {tuple(own[k].shape)} in the model)")
    versioned = OrderedDict(state_dict)
    versioned._metadata = _module_versions(path, state_dict, own)  # type: ignore[attr-defined]
    model.load_state_dict(versioned)


def rebuild(path: str | os.PathLike, recipe: dict[str, Any], base: nn.Module) -> nn.Module:
    """The SE model a checkpoint read from ``path`` describes (``recipe``, as ``checked`` returns it): a copy of
    ``base`` with the recipe's blocks, holding its state_dict, on ``base``'s device (a meta ``base`` takes meta
    tensors: shapes and module versions are checked, no values)."""
    name = recipe["model"]
    try:
        harness = harness_of(name) if name in MODEL_FAMILIES else None
        if harness is not None and recipe.get("heads", False):
            harness = harness.including_heads(name)
        if recipe["stages"]:
            model = inject(base, stages=recipe["stages"], input_shape=recipe["input_shape"],
                           add_missing=recipe.get("add_missing", False), block=recipe["spec"], harness=harness)
        else:  # saved without seprof's blocks (a model whose own SE is measured as built): rebuilt as built
            model = deep_copy(base)
    except SeprofError as error:
        raise ModelError(f"{str(path)!r} holds a recipe that does not fit its model: {error}") from error
    fit(path, model, recipe["state_dict"])
    return model


def load(
    path: str | os.PathLike,
    base: nn.Module | None = None,
    *,
    factory: Callable[[], nn.Module] | None = None,
    trust_factory: bool = False,
) -> nn.Module:
    """Rebuild the SE model saved at ``path`` (with ``seprof inject --save`` or ``save``).

    Args:
        path: the checkpoint file (read with ``torch.load(..., weights_only=True)``: no pickled code runs).
        base: the un-injected model to rebuild from (not modified).
        factory: a function of yours that builds the un-injected model (when ``base`` is not given).
        trust_factory: import and call the factory the checkpoint names (``package.module:function``);
            without it, a checkpoint naming a factory needs ``base`` or ``factory``.

    Returns:
        The SE model with the checkpoint's weights, on the CPU, in eval mode.

    Raises:
        SeprofError: one message for anything wrong with the file, its recipe or the base model; no other
            exception (but KeyboardInterrupt) comes out.
    """
    if base is not None and not isinstance(base, nn.Module):
        raise ModelError(f"base is a {type(base).__name__}, not a torch.nn.Module")
    if base is not None and any(t.is_meta for t in [*base.parameters(), *base.buffers()]):
        raise ModelError("base is on the meta device, with no tensors to load the weights into: give the model "
                         "with its weights on the CPU")
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    data = _read(path)
    try:
        recipe = checked(path, data)
        if base is None:
            base = _base(path, recipe["model"], factory, trust_factory, recipe.get("input_shape"))
        return rebuild(path, recipe, base).eval()
    except SeprofError:
        raise
    except Exception as error:  # a crafted file can make torch or a model's own code fail anywhere
        raise ModelError(f"{str(path)!r} cannot be rebuilt into a model: {first_line(error)}; it may be damaged, "
                         "or written by something other than seprof") from error
