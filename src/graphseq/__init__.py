"""graphseq: a correct, fast, drop-in ``Sequential`` container for graph neural networks."""

from . import registry
from ._errors import HeaderError
from ._parsing import split
from ._sequential import Sequential
from ._signature import Child, Parameter, Signature, eval_type
from ._template import module_from_template
from .config import from_config
from .hetero import to_hetero
from .saving import load, save

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
