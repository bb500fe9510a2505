"""``module_from_template``: the reference's Jinja2 helper, without the temp files."""

from __future__ import annotations

import linecache
import sys
import types
from pathlib import Path
from typing import Any


def module_from_template(
    module_name: str, template_path: str, tmp_dirname: str | None = None, **kwargs: Any
) -> types.ModuleType:
    """Render the Jinja2 template at ``template_path`` with ``kwargs`` and import it as a module.

    The module is cached in ``sys.modules`` under ``module_name``. Unlike the reference, the
    rendered source lives in memory (``linecache`` serves it to tracebacks) and no file is
    written: ``tmp_dirname`` is accepted for compatibility and ignored.

    Args:
        module_name: The name of the module to make (its key in ``sys.modules``).
        template_path: The path of a Jinja2 template of Python source.
        tmp_dirname: Ignored; the reference writes the module there.
        **kwargs: The template's variables.

    Returns:
        The imported module.
    """
    cached = sys.modules.get(module_name)
    if cached is not None:
        return cached
    from jinja2 import Environment, FileSystemLoader

    path = Path(template_path)
    env = Environment(loader=FileSystemLoader(str(path.parent)))
    source = env.get_template(path.name).render(**kwargs)
    filename = f"<graphseq._template {module_name}>"
    module = types.ModuleType(module_name)
    module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    sys.modules[module_name] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)  # the caller's own template
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
