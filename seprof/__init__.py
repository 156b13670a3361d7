"""seprof: what does Squeeze-and-Excitation cost in this model, and where?

Hu et al., "Squeeze-and-Excitation Networks" (arXiv 1709.01507). Puts SE blocks into torchvision models at
chosen stages and reports the paper's parameter formula beside exact and measured counts, MACs from fvcore,
thop and torch's flop counter, and interleaved latency.
"""

__version__ = "0.3.0"

from .accounting import block_params, exact_params, paper_params, se_work
from .blocks import SE_BLOCKS, SEBlock
from .checkpoint import load, save
from .errors import SeprofError
from .models import build_model, list_models
from .measure import profile
from .report import Report
from .stages import StageMap, find_sites
from .surgery import WithSE, inject, strip

__all__ = [
    "__version__",
    "SE_BLOCKS",
    "SEBlock",
    "Report",
    "SeprofError",
    "StageMap",
    "WithSE",
    "block_params",
    "build_model",
    "exact_params",
    "find_sites",
    "inject",
    "list_models",
    "load",
    "paper_params",
    "profile",
    "save",
    "se_work",
    "strip",
]
