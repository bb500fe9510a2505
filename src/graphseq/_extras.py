"""Optional dependencies: import one, or say which extra of graphseq installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {"pyg": "PyTorch Geometric, PyYAML and tqdm", "export": "onnx, onnxscript and onnxruntime"}


def need(extra: str, module: str, feature: str) -> ModuleType:
    """Import ``module``, or raise ``ModuleNotFoundError`` naming the extra that installs it.

    Args:
        extra: The extra of graphseq that installs ``module``.
        module: The module to import.
        feature: What needs it, as the message names it.

    Returns:
        The module.

    Example:
        >>> need("pyg", "math", "the demo").pi > 3
        True
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        missing = error.name or module
        raise ModuleNotFoundError(
            f"{feature} needs {missing!r}, which is not installed. It comes with graphseq's "
            f"{extra!r} extra ({EXTRAS[extra]}): pip install 'graphseq[{extra}]', or from a "
            f"checkout, pip install -e '.[{extra}]'.",
            name=missing,
        ) from None
