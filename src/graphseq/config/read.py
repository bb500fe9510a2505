"""Reading config files within bounds: file size, encoding, nesting depth and value count.

Every way a file can fail to be read as a config raises :class:`ConfigError` naming the
file, after work and memory bounded by :class:`Limits`:

* the file must be a regular file of at most ``max_bytes`` (so ``/dev/zero``, a pipe or a
  multi-GB file is refused before it is read; at most ``max_bytes + 1`` bytes are read);
* it must be UTF-8 (a byte-order mark is allowed);
* lists and mappings nest at most ``max_depth`` deep;
* YAML anchors and aliases are allowed (they are a fair way to share ``kwargs``), but the
  document may hold at most ``max_nodes`` values with every alias expanded, so an "alias
  bomb" is refused after reading its few hundred bytes. An alias inside its own anchor (a
  cycle) is refused.

Depth and count are checked on the YAML parser's events, in one pass, before any value is
made; JSON's depth is checked by a linear scan before :func:`json.loads`.

YAML is read with PyYAML's safe constructors (no tags that make Python objects), JSON with
:mod:`json`. In both, a key written twice in one mapping (``header:`` twice in a step) is a
:class:`ConfigError` naming the key, not a silent choice of the last one; in YAML, a key may
still override one merged in with ``<<: *anchor``.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from .records import ConfigError, Limits, Problem, cut

__all__ = ["Source", "load", "read_text", "yaml_module"]

Source = Mapping[str, Any] | str | os.PathLike[str]
SUFFIXES = (".yaml", ".yml", ".json")


def load(source: Source, limits: Limits | None = None) -> tuple[Mapping[str, Any], str]:
    """The raw config and a label for messages: ``'config'`` for a dict, else the path.

    Args:
        source: A config mapping, or the path of a ``.yaml``, ``.yml`` or ``.json`` file.
        limits: Bounds on reading; :class:`Limits` by default.

    Returns:
        The config as read (not yet checked) and how messages name it.

    Raises:
        ConfigError: The file cannot be read as a config; the message names it.
        OSError: The file does not exist or cannot be opened.

    Example:
        >>> from graphseq.config.read import load
        >>> load({'inputs': 'x', 'steps': []})
        ({'inputs': 'x', 'steps': []}, 'config')
    """
    if isinstance(source, Mapping):
        return source, "config"
    if not isinstance(source, str | os.PathLike):
        raise ConfigError(
            [Problem("config", f"expected a dict or a path (got {type(source).__name__})")]
        )
    limits = limits or Limits()
    path = Path(source)
    label = str(source)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError([Problem(label, "a config file ends in .yaml, .yml or .json")])
    text = read_text(path, label, limits)
    data = _parse_json(text, label, limits) if suffix == ".json" else _parse_yaml(
        text, label, limits
    )
    if not isinstance(data, Mapping):
        raise ConfigError(
            [Problem(label, f"must hold a mapping with 'inputs' and 'steps' "
                            f"(got {type(data).__name__})")]
        )
    return data, label


def read_text(path: Path, label: str, limits: Limits) -> str:
    """The text of a regular UTF-8 file of at most ``limits.max_bytes`` bytes.

    Args:
        path: The file to read.
        label: How messages name the file.
        limits: Bounds on reading; only ``max_bytes`` is used.

    Returns:
        The file's text, without a leading byte-order mark.

    Raises:
        ConfigError: The path is a folder or not a regular file, the file is larger than
            ``limits.max_bytes``, or it is not UTF-8.
        OSError: The file does not exist or cannot be opened.
    """
    info = os.stat(path)  # follows symlinks: a link to /dev/zero is a device
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError([Problem(label, "is a folder, not a config file")])
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError([Problem(
            label, "is not a regular file (a device, pipe or socket); configs are read from "
            "files"
        )])
    if info.st_size > limits.max_bytes:
        raise ConfigError([Problem(label, _too_big(info.st_size, limits))])
    with open(path, "rb") as stream:
        data = stream.read(limits.max_bytes + 1)  # the file may have grown since stat()
    if len(data) > limits.max_bytes:
        raise ConfigError([Problem(label, _too_big(None, limits))])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        byte = data[error.start]
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError([Problem(
            label, f"is not UTF-8 text: byte 0x{byte:02x} at offset {error.start} (line "
            f"{line}); save the file as UTF-8"
        )]) from None


def _too_big(size: int | None, limits: Limits) -> str:
    found = "is larger" if size is None else f"is {size:,} bytes,"
    return (
        f"{found} more than the limit of {limits.max_bytes:,} bytes; raise it with "
        "from_config(..., limits=Limits(max_bytes=...)) or graphseq --max-bytes"
    )


# JSON ----------------------------------------------------------------------------------------

# Outside strings only brackets nest; inside, a backslash escapes the next character.
_JSON_TOKENS = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


class _Duplicate(Exception):
    """A mapping that holds ``key`` twice (YAML: at ``line``)."""

    def __init__(self, key: Any, line: int | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.line = line

    def problem(self, label: str) -> Problem:
        where = "" if self.line is None else f" (line {self.line})"
        return Problem(label, f"has the key {cut(repr(self.key), 80)} twice in one mapping"
                       f"{where}; write each key once")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key written twice."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _parse_json(text: str, label: str, limits: Limits) -> Any:
    _check_json_depth(text, label, limits)
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except _Duplicate as error:
        raise ConfigError([error.problem(label)]) from None
    except ValueError as error:  # JSONDecodeError, or an int too long to convert
        reason = cut(" ".join(str(error).split()), 300)
        raise ConfigError([Problem(label, f"is not valid JSON: {reason}")]) from None


def _check_json_depth(text: str, label: str, limits: Limits) -> None:
    """Refuse nesting deeper than ``limits.max_depth`` in one linear pass, before parsing."""
    depth = 0
    in_string = False
    for token in _JSON_TOKENS.finditer(text):
        char = token.group()
        if char == '"':
            in_string = not in_string
        elif in_string or len(char) > 1:
            continue
        elif char in "[{":
            depth += 1
            if depth > limits.max_depth:
                line = text.count("\n", 0, token.start()) + 1
                raise ConfigError([Problem(label, f"{_too_deep(limits)} (line {line})")])
        else:
            depth -= 1


def _too_deep(limits: Limits) -> str:
    return f"nests lists and mappings deeper than max_depth={limits.max_depth} levels"


# YAML ----------------------------------------------------------------------------------------


def yaml_module() -> Any:
    """PyYAML, or a :class:`ConfigError` saying how to install it.

    Returns:
        The ``yaml`` module.

    Raises:
        ConfigError: PyYAML is not installed.
    """
    try:
        import yaml
    except ImportError:
        raise ConfigError(
            [Problem("config", "reading YAML needs PyYAML: pip install pyyaml")]
        ) from None
    return yaml


class _Bound(Exception):
    """A YAML document over a limit; ``line`` is where it went over."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _parse_yaml(text: str, label: str, limits: Limits, libyaml: bool = True) -> Any:
    """Check the document's events against the limits, then load it with a safe loader."""
    yaml = yaml_module()
    loader_class = _loader_class(libyaml)
    try:
        _check_events(loader_class(text), limits)
        return yaml.load(text, Loader=loader_class)
    except _Bound as error:
        raise ConfigError([Problem(label, f"{error.message} (line {error.line})")]) from None
    except _Duplicate as error:
        raise ConfigError([error.problem(label)]) from None
    except yaml.YAMLError as error:
        raise ConfigError([Problem(label, f"is not valid YAML: {_yaml_reason(error)}")]) from None
    except (ValueError, TypeError, RecursionError) as error:  # e.g. an int too long to convert
        reason = cut(" ".join(str(error).split()), 300)
        raise ConfigError([Problem(label, f"is not valid YAML: {reason}")]) from None


def _check_events(loader: Any, limits: Limits) -> None:
    """Walk the parser's events (no values are made) and refuse a document over the limits.

    Each alias counts as the values of its anchor, so the count is the size of the document
    with every alias expanded, computed in one pass over the text as written.
    """
    from yaml.events import (
        AliasEvent,
        CollectionEndEvent,
        CollectionStartEvent,
        NodeEvent,
        StreamEndEvent,
    )

    frames: list[list[Any]] = []  # open collections: [values so far, anchor]
    sizes: dict[str, int] = {}  # anchor -> its values, once closed
    total = 0
    try:
        while True:
            event = loader.get_event()
            if isinstance(event, StreamEndEvent):
                return
            line = event.start_mark.line + 1
            if isinstance(event, CollectionEndEvent):
                size, anchor = frames.pop()
                if anchor is not None:
                    sizes[anchor] = size
                if frames:
                    frames[-1][0] += size
                continue
            if not isinstance(event, NodeEvent):
                continue  # stream and document starts and ends
            if isinstance(event, AliasEvent):
                if any(frame[1] == event.anchor for frame in frames):
                    raise _Bound("has an alias inside its own anchor (a cycle)", line)
                size = sizes.get(event.anchor, 1)  # an undefined alias: the loader says so
            else:
                size = 1
            total += size
            if total > limits.max_nodes:
                raise _Bound(
                    f"holds more than max_nodes={limits.max_nodes:,} values with its aliases "
                    "expanded", line,
                )
            if isinstance(event, CollectionStartEvent):
                if len(frames) >= limits.max_depth:
                    raise _Bound(_too_deep(limits), line)
                frames.append([1, event.anchor])
                continue
            if event.anchor is not None and not isinstance(event, AliasEvent):
                sizes[event.anchor] = 1
            if frames:
                frames[-1][0] += size
    finally:
        loader.dispose()


def _yaml_reason(error: Any) -> str:
    """PyYAML's complaint and where (``line 3, column 7``), without its stream name."""
    problem, mark = getattr(error, "problem", None), getattr(error, "problem_mark", None)
    if problem is None or mark is None:  # a ReaderError: "... in "<unicode string>", position 7"
        text = " ".join(str(error).split()).replace(' in "<unicode string>", ', " at ")
        return cut(text, 300)
    context = getattr(error, "context", None)
    text = f"{context}, {problem}" if context else problem
    return cut(f"{text} (line {mark.line + 1}, column {mark.column + 1})", 300)


@lru_cache(maxsize=2)
def _loader_class(libyaml: bool = True) -> type:
    """PyYAML's safe loader (libyaml's, fast, when installed and ``libyaml`` is true), which
    refuses a key written twice in one mapping."""
    yaml = yaml_module()
    native: type | None = getattr(yaml, "CSafeLoader", None) if libyaml else None
    base: Any = native or yaml.SafeLoader

    def construct_mapping(self: Any, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:  # the keys as written, before '<<' merges
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise _Duplicate(key, key_node.start_mark.line + 1)
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class says so
                    continue
        return base.construct_mapping(self, node, deep)

    return type("UniqueKeyLoader", (base,), {"construct_mapping": construct_mapping})
