"""graphseq: a correct, fast, drop-in ``Sequential`` container for graph neural networks."""

from . import registry
from .config import from_config
from .errors import HeaderError
from .hetero import to_hetero
from .parsing import split
from .saving import load, save
from .sequential import Sequential
from .signature import Child, Parameter, Signature, eval_type
from .template import module_from_template

__all__ = [
    "Child",
    "HeaderError",
    "Parameter",
    "Sequential",
    "Signature",
    "eval_type",
    "from_config",
    "load",
    "module_from_template",
    "registry",
    "save",
    "split",
    "to_hetero",
]
__version__ = "0.1.0"
