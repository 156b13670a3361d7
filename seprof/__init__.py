"""seprof: what does Squeeze-and-Excitation cost in this model, and where?

Hu et al., "Squeeze-and-Excitation Networks" (arXiv 1709.01507). Puts SE blocks into torchvision models (every
task), timm's models or your own at chosen stages and reports the paper's parameter formula beside exact and
measured counts, MACs from fvcore, thop and torch's flop counter, and interleaved latency.

The public names below are imported on first use, so that ``import seprof`` (and ``seprof --help``) does not
pay for importing torch until something needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.8.0"

# public name → the module that defines it
_EXPORTS = {
    "block_params": "accounting",
    "exact_params": "accounting",
    "paper_params": "accounting",
    "se_work": "accounting",
    "SE_BLOCKS": "blocks",
    "SEBlock": "blocks",
    "SEBlock3d": "blocks",
    "dispatched": "dispatch",
    "Harness": "harness",
    "harness_of": "models",
    "NativeBlock": "native",
    "native_block": "native",
    "OwnAttention": "native",
    "own_attention": "native",
    "register_attention": "native",
    "Task": "families",
    "load": "checkpoint",
    "save": "checkpoint",
    "SeprofError": "errors",
    "build_model": "models",
    "list_models": "models",
    "profile": "measure",
    "sweep": "measure",
    "TimingOptions": "options",
    "BlockSpec": "spec",
    "BlockKind": "spec",
    "Position": "spec",
    "Squeeze": "spec",
    "Gate": "spec",
    "Combine": "spec",
    "StageSet": "spec",
    "Report": "report",
    "StageMap": "stages",
    "find_sites": "stages",
    "register_placement": "stages",
    "WithSE": "surgery",
    "inject": "surgery",
    "strip": "surgery",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'seprof' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
