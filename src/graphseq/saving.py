"""One safe file per model: :func:`save` and :func:`load`, with no pickle and no code.

The file uses the safetensors layout: 8 bytes (little-endian) giving the length of a JSON
header, the header, then the raw bytes of each tensor of the model's ``state_dict``
(weights and persistent buffers). The header's ``__metadata__`` holds the model's config
(:meth:`graphseq.Sequential.to_config`, as JSON), the format version, the versions of
graphseq, torch and PyG that wrote it, and the model's floating-point dtype. Reading it
runs no code: the header is JSON, the tensors are bytes, and the config is built by
:func:`graphseq.from_config`, which imports nothing unless ``allow_imports=True``.

Every way a file can be wrong (not a graphseq file, a newer format, cut short, corrupted,
weights that do not fit the config) raises :class:`SavedModelError` naming the file and the
key at fault.
"""

from __future__ import annotations

import copy
import json
import math
import os
import stat
import struct
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from ._sequential import Sequential

__all__ = ["FORMAT", "SavedModelError", "load", "read_header", "save"]

FORMAT = 1
"""The version of the file format this graphseq writes, and the newest it reads."""

MAX_HEADER = 64 << 20
"""The largest header read, in bytes: the config and the tensors' names and shapes."""

_DTYPES: dict[torch.dtype, str] = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
_HEADER_DEPTH = 3
"""How deep a header nests: the top mapping, a tensor's entry, its shape or offsets."""
_CODES = {code: dtype for dtype, code in _DTYPES.items()}
_FLOATING = {str(d).removeprefix("torch."): d for d in _DTYPES if d.is_floating_point}
_KEYS = ("graphseq.format", "graphseq.config", "graphseq.version", "torch.version",
         "torch_geometric.version")


class SavedModelError(ValueError):
    """A saved model file that cannot be read or does not fit its config; names file and key.

    Example:
        >>> import tempfile, pathlib, graphseq
        >>> path = pathlib.Path(tempfile.mkdtemp()) / 'model.safetensors'
        >>> _ = path.write_bytes(b'not a model')
        >>> graphseq.load(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
          ...
        graphseq.saving.SavedModelError: .../model.safetensors: is not a graphseq model file: ...
    """


def save(model: Sequential, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to one file: its config, weights and buffers, and the versions.

    The file is written next to its final name and then renamed, so a crash never leaves a
    half-written file under that name. Lazy parameters (``SAGEConv(-1, 16)``) must have been
    initialized by a first call. A model converted to another dtype (``model.double()``) is
    saved in it: the file records the dtype, and :func:`load` builds the model, then converts
    it, as ``model.to(dtype)`` does. The model's floating-point parameters and buffers must
    all have one dtype.

    Args:
        model: The model; every step must be describable by ``model.to_config()``.
        path: The file to write (``.safetensors`` by convention; any suffix but a config's).

    Returns:
        The path written.

    Raises:
        ValueError: A step cannot be written to a config, a parameter is still lazy, a
            state entry is not a tensor of a supported dtype, floating-point tensors have
            several dtypes, or ``path`` is a folder.

    Example:
        >>> import tempfile, pathlib, torch, graphseq
        >>> from torch_geometric.nn import GCNConv
        >>> model = graphseq.Sequential('x, edge_index', [
        ...     (GCNConv(4, 8), 'x, edge_index -> x'), torch.nn.ReLU()])
        >>> path = graphseq.save(model, pathlib.Path(tempfile.mkdtemp()) / 'gcn.safetensors')
        >>> again = graphseq.load(path)
        >>> repr(again) == repr(model)
        True
        >>> all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
        ...                                       model.state_dict().values()))
        True
    """
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{target}: is a folder; name a file in it, such as "
                         f"{target / 'model.safetensors'}")
    if target.suffix.lower() in (".yaml", ".yml", ".json"):
        raise ValueError(f"{target}: a saved model is not a config file; name it "
                         f"{target.with_suffix('.safetensors').name}, or write the config "
                         "alone with graphseq.config.save")
    lazy = [k for k, v in _state_items(model) if torch.nn.parameter.is_lazy(v)]
    if lazy:
        raise ValueError(
            f"cannot save {target}: {', '.join(lazy[:3])} {'is' if len(lazy) == 1 else 'are'} "
            "lazy and not initialized yet; call the model once on an example, then save it"
        )
    dtype = _one_floating_dtype(model, target)
    default = torch.get_default_dtype()
    # A config describes no dtype: it is described as built (in the default dtype), and the
    # file records the dtype, which load converts to after building, as model.to(dtype) did.
    config = (model if dtype in (None, default) else _converted(model, default)).to_config()
    header: dict[str, Any] = {"__metadata__": {
        "graphseq.format": str(FORMAT),
        "graphseq.config": json.dumps(config, separators=(",", ":")),
        "graphseq.version": _version(),
        "torch.version": torch.__version__,
        "torch_geometric.version": _pyg_version(),
    }}
    if dtype is not None:
        header["__metadata__"]["graphseq.dtype"] = str(dtype).removeprefix("torch.")
    blobs: list[bytes] = []
    offset = 0
    for key, value in _state_items(model):
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"cannot save {target}: state entry {key!r} is "
                             f"{type(value).__name__}, not a tensor")
        code = _DTYPES.get(value.dtype)
        if code is None:
            raise ValueError(f"cannot save {target}: {key!r} has dtype {value.dtype}; a saved "
                             f"model holds {', '.join(str(d) for d in _DTYPES)}")
        data = _bytes(value)
        header[key] = {"dtype": code, "shape": list(value.shape),
                       "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors does
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(struct.pack("<Q", len(text)))
            stream.write(text)
            for data in blobs:
                stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def load(
    path: str | os.PathLike[str], *, map_location: Any = None, allow_imports: bool = False
) -> Sequential:
    """Read a model written by :func:`save`: build its config, then load its weights.

    Nothing is unpickled, and no code the file names is imported unless ``allow_imports``
    is true (as for :func:`graphseq.from_config`). The model comes back in training mode,
    as a newly built one does.

    Args:
        path: The file.
        map_location: The device the model goes to: ``'cpu'``, ``'cuda:0'``, ``'meta'`` or
            a ``torch.device``; by default the CPU. On ``'meta'`` the weights are neither read
            nor allocated (their shapes and dtypes are checked). Unlike ``torch.load``, a dict or
            a function is refused with a ``TypeError``: they remap the devices that pickled
            tensors were saved from, and a saved model records none.
        allow_imports: Let the saved config name modules by import path (this runs code).

    Returns:
        The model, with the saved weights and buffers.

    Raises:
        SavedModelError: The file is not a graphseq model, was written by a newer format,
            is cut short or corrupted, or its weights do not fit its config.
        ConfigError: The saved config names something this installation does not have.
        OSError: The file cannot be opened.
        TypeError: ``map_location`` is not a device (a dict or a function, say).

    Example:
        >>> import graphseq
        >>> graphseq.load('no-such-file.safetensors')
        Traceback (most recent call last):
          ...
        FileNotFoundError: [Errno 2] No such file or directory: 'no-such-file.safetensors'
    """
    from .config import from_config

    device = _device(map_location)
    label = str(path)
    meta = device is not None and device.type == "meta"
    entries, info, data = _read(Path(path), label, data=not meta)
    config = _config(info, label)
    dtype = _saved_dtype(info, label)
    shapes = {key: (tuple(entry["shape"]), _CODES[entry["dtype"]])
              for key, entry in entries.items()}
    try:
        # First on the meta device, which allocates nothing: a config that declares more
        # (or other) weights than the file holds is refused before anything is built.
        with torch.device("meta"):
            shell: Sequential | None = from_config(config, allow_imports=allow_imports)
    except Exception:  # noqa: BLE001 - a layer that cannot be made on meta: checked below
        shell = None
    if shell is not None:
        _convert(shell, dtype)
        _check_fits(shell, shapes, label)
        if meta:
            return shell
    state = {} if meta else {key: _tensor(entries[key], data, key, label) for key in entries}
    if shell is not None:
        filled = _filled(shell, state, device)
        if filled is not None:
            return filled
    try:
        model = from_config(config, allow_imports=allow_imports)
    except ValueError as error:
        error.add_note(f"graphseq: in the config saved in {label}")
        raise
    _convert(model, dtype)
    _check_fits(model, shapes, label)
    if meta:
        return model.to(device)
    model.load_state_dict(state, strict=True)
    if device is not None:
        model.to(device)
    return model


def _filled(shell: Sequential, state: dict[str, torch.Tensor],
            device: torch.device | None) -> Sequential | None:
    """The meta shell made real with the file's tensors, or ``None`` where that is not exact.

    ``to_empty`` then ``load_state_dict`` skips a second build and its random initialization,
    and is exact only where the file's tensors are the whole state: none is lazy, no parameter
    is shared (``to_empty`` would untie it), no module holds a tensor outside its parameters and
    persistent buffers (those would stay on meta or uninitialized), and after loading every
    parameter and buffer holds the file's bits under its ``state_dict`` name (a module whose
    ``_load_from_state_dict`` does more fails this). Otherwise the caller builds for real.
    """
    every = _every_tensor(shell)
    lazy = any(torch.nn.parameter.is_lazy(t) for t in every)  # load_state_dict sizes those
    if lazy or len({id(t) for t in every}) != len(every) or any(
        _holds_tensor(value) for module in shell.modules() for key, value in vars(module).items()
        if key not in ("_parameters", "_buffers", "_modules")
    ):
        return None
    model = shell.to_empty(device=device or "cpu")
    model.load_state_dict(state, strict=True)
    held = model.state_dict(keep_vars=True)
    if {id(t) for t in _every_tensor(model)} != {id(t) for t in held.values()} or not all(
        _same_bits(held[key], state[key]) for key in state
    ):
        return None
    return model


def _every_tensor(model: torch.nn.Module) -> list[torch.Tensor]:
    """Every parameter and buffer, once per module that holds it."""
    return [t for _, t in [*model.named_parameters(remove_duplicate=False),
                           *model.named_buffers(remove_duplicate=False)]]


def _holds_tensor(value: Any, depth: int = 2) -> bool:
    """Whether ``value`` is a tensor, or a list, tuple or dict holding one (2 levels)."""
    if isinstance(value, torch.Tensor):
        return True
    if depth and isinstance(value, (list, tuple)):
        return any(_holds_tensor(v, depth - 1) for v in value)
    if depth and isinstance(value, dict):
        return any(_holds_tensor(v, depth - 1) for v in value.values())
    return False


def _same_bits(held: torch.Tensor, saved: torch.Tensor) -> bool:
    if held.shape != saved.shape or held.dtype != saved.dtype:
        return False
    a = held.detach().reshape(-1)
    b = saved.to(held.device).reshape(-1)
    return bool(torch.equal(a.view(torch.uint8), b.view(torch.uint8))) if a.numel() else True


def _saved_dtype(info: dict[str, str], label: str) -> torch.dtype | None:
    """The model's floating-point dtype, as the file records it (files may record none)."""
    name = info.get("graphseq.dtype")
    if name is None:
        return None
    if name not in _FLOATING:
        raise SavedModelError(f"{label}: its metadata key 'graphseq.dtype' is {name!r:.40}, not "
                              f"one of {', '.join(_FLOATING)}")
    return _FLOATING[name]


def _convert(model: torch.nn.Module, dtype: torch.dtype | None) -> None:
    """``model.to(dtype)``, where a floating-point tensor has another dtype."""
    if dtype is not None and any(
        t.is_floating_point() and t.dtype != dtype and not torch.nn.parameter.is_lazy(t)
        for t in [*model.parameters(), *model.buffers()]
    ):
        model.to(dtype)


def _device(map_location: Any) -> torch.device | None:
    """``map_location`` as a device: a name or a ``torch.device``, checked before reading."""
    if map_location is None or isinstance(map_location, torch.device):
        return map_location
    if not isinstance(map_location, str):
        raise TypeError(
            "graphseq.load: map_location must be a device ('cpu', 'cuda:0', 'meta' or a "
            f"torch.device), not {type(map_location).__name__}: a dict or a function remaps "
            "the devices pickled tensors were saved from, and a saved model records none; "
            "name the device the model should go to"
        )
    try:
        return torch.device(map_location)
    except RuntimeError:
        raise ValueError(f"graphseq.load: map_location {map_location!r:.60} is not a device "
                         "('cpu', 'cuda', 'cuda:0', 'meta', ...)") from None


def read_header(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of a saved model (format, config as JSON, versions), without its weights.

    Args:
        path: A file written by :func:`save`.

    Returns:
        ``graphseq.format``, ``graphseq.config``, ``graphseq.version``, ``torch.version`` and
        ``torch_geometric.version``, as strings.

    Raises:
        SavedModelError: The file is not a graphseq model file, or is cut short.

    Example:
        >>> import tempfile, pathlib, torch, graphseq
        >>> model = graphseq.Sequential('x', [(torch.nn.Linear(2, 2), 'x -> x')])
        >>> path = graphseq.save(model, pathlib.Path(tempfile.mkdtemp()) / 'm.safetensors')
        >>> graphseq.saving.read_header(path)['graphseq.format']
        '1'
    """
    _, info, _ = _read(Path(path), str(path), header_only=True)
    return info


# Reading --------------------------------------------------------------------------------------


def _read(
    path: Path, label: str, header_only: bool = False, data: bool = True
) -> tuple[dict[str, dict[str, Any]], dict[str, str], memoryview]:
    """The tensor entries, the metadata and the data section (if ``data``), all checked."""
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise SavedModelError(f"{label}: is a folder, not a saved model")
    if not stat.S_ISREG(info.st_mode):
        raise SavedModelError(f"{label}: is not a regular file (a device, pipe or socket)")
    size = info.st_size
    with open(path, "rb") as stream:
        start = stream.read(8)
        if len(start) < 8:
            raise SavedModelError(f"{label}: is not a graphseq model file: it is {size} bytes, "
                                  "shorter than a header")
        (length,) = struct.unpack("<Q", start)
        if length > min(MAX_HEADER, size - 8):
            raise SavedModelError(
                f"{label}: is not a graphseq model file: its first 8 bytes give a header of "
                f"{length:,} bytes, but the file has {size - 8:,} after them (cut short, or "
                "another kind of file)"
            )
        raw = stream.read(length)
        blob = bytearray()
        if data and not header_only:  # read once, into memory the tensors can view
            blob = bytearray(max(size - 8 - length, 0))
            del blob[stream.readinto(blob):]
            blob += stream.read()  # the file grew since it was measured: the check says so
        have = len(blob) if data else size - 8 - length
    _check_depth(raw, _HEADER_DEPTH, f"{label}: is not a graphseq model file: its header")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise SavedModelError(f"{label}: is not a graphseq model file: its header is not "
                              f"JSON ({' '.join(str(error).split())[:120]})") from None
    if not isinstance(header, dict):
        raise SavedModelError(f"{label}: is not a graphseq model file: its header is not a "
                              "JSON object")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or "graphseq.format" not in meta:
        raise SavedModelError(f"{label}: is not a graphseq model file: its header has no "
                              "'graphseq.format' (a safetensors file not written by graphseq?)")
    _check_format(meta, label)
    entries = {key: _entry(key, value, label) for key, value in header.items()}
    if not header_only:
        _check_offsets(entries, have, size, label)
    return entries, meta, memoryview(blob)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r:.80} is written twice")
        out[key] = value
    return out


def _check_format(meta: dict[str, Any], label: str) -> None:
    for key in _KEYS:
        if not isinstance(meta.get(key), str):
            raise SavedModelError(f"{label}: its metadata key {key!r} is missing or not text")
    written = meta["graphseq.format"]
    if not written.isdigit():
        raise SavedModelError(f"{label}: its metadata key 'graphseq.format' is {written!r:.40}, "
                              "not a version number")
    if int(written) > FORMAT:
        raise SavedModelError(
            f"{label}: was written in format {written} (graphseq {meta['graphseq.version']:.40})"
            f"; this graphseq ({_version()}) reads format {FORMAT} and older: upgrade graphseq"
        )


def _entry(key: str, value: Any, label: str) -> dict[str, Any]:
    """One tensor's header entry, checked: a known dtype, a shape, offsets that fit it."""
    where = f"{label}: tensor {key!r:.120}"
    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "data_offsets"}:
        raise SavedModelError(f"{where}: its header entry is not {{dtype, shape, data_offsets}}")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if dtype not in _CODES:
        raise SavedModelError(f"{where}: dtype {dtype!r:.40} is not one graphseq writes")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**62 for d in shape
    ):
        raise SavedModelError(f"{where}: shape {str(shape):.60} is not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(
        isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets
    )):
        raise SavedModelError(f"{where}: data_offsets {str(offsets):.60} are not [start, end]")
    need = math.prod(shape) * _CODES[dtype].itemsize
    if offsets[1] - offsets[0] != need:
        raise SavedModelError(f"{where}: data_offsets {offsets} hold {offsets[1] - offsets[0]:,}"
                              f" bytes, but {dtype} {shape} needs {need:,}")
    return value


def _check_offsets(
    entries: dict[str, dict[str, Any]], have: int, size: int, label: str
) -> None:
    """The tensors tile the data section: in order, no gap, no overlap, none past the end."""
    end = 0
    for key, entry in sorted(entries.items(), key=lambda kv: kv[1]["data_offsets"]):
        start, stop = entry["data_offsets"]
        if start != end:
            raise SavedModelError(f"{label}: tensor {key!r:.120}: its data starts at byte "
                                  f"{start:,} of the data, not {end:,} (the file is corrupted)")
        if stop > have:
            raise SavedModelError(
                f"{label}: tensor {key!r:.120}: its data ends at byte {stop:,} of the data, but "
                f"the file holds {have:,} (it is cut short: {size:,} bytes)"
            )
        end = stop
    if end != have:
        raise SavedModelError(f"{label}: holds {have - end:,} bytes after its last tensor "
                              "(the file is corrupted)")


def _check_depth(raw: bytes, limit: int, where: str) -> None:
    """Refuse JSON nesting deeper than ``limit`` before parsing it (``json.loads`` recurses).

    One pass in chunks of 1 MiB, with tensor operations: a quote counts unless an odd run of
    backslashes precedes it, and a bracket counts outside strings. Linear time, and memory
    bounded by the chunk, whatever the text holds.
    """
    level = quotes = 0
    plain = -1  # where the last byte that is not a backslash was
    chunk = 1 << 20
    for start in range(0, len(raw), chunk):
        codes = torch.frombuffer(bytearray(raw[start:start + chunk]), dtype=torch.uint8)
        index = torch.arange(start, start + len(codes))
        backslash = codes == ord("\\")
        last = torch.where(backslash, plain, index).cummax(0).values
        before = torch.cat([torch.tensor([plain]), last[:-1]])
        escaped = (index - 1 - before) % 2 == 1
        count = ((codes == ord('"')) & ~escaped).cumsum(0) + quotes
        outside = count % 2 == 0
        opens = ((codes == ord("[")) | (codes == ord("{"))) & outside
        closes = ((codes == ord("]")) | (codes == ord("}"))) & outside
        levels = (opens.to(torch.int64) - closes.to(torch.int64)).cumsum(0) + level
        if int(levels.max()) > limit:
            raise SavedModelError(f"{where} nests lists and mappings deeper than {limit} levels")
        level, quotes, plain = int(levels[-1]), int(count[-1]), int(last[-1])


def _config(info: dict[str, str], label: str) -> dict[str, Any]:
    from .config import Limits

    text = info["graphseq.config"]
    _check_depth(text.encode("utf-8", "surrogatepass"), Limits().max_depth,
                 f"{label}: its metadata key 'graphseq.config'")
    try:
        config = json.loads(text, object_pairs_hook=_unique)
    except (ValueError, RecursionError) as error:
        raise SavedModelError(f"{label}: its metadata key 'graphseq.config' is not JSON: "
                              f"{' '.join(str(error).split())[:120]}") from None
    if not isinstance(config, dict):
        raise SavedModelError(f"{label}: its metadata key 'graphseq.config' is not a mapping")
    return config


def _tensor(entry: dict[str, Any], data: memoryview, key: str, label: str) -> torch.Tensor:
    start, stop = entry["data_offsets"]
    dtype = _CODES[entry["dtype"]]
    if start == stop:
        return torch.empty(entry["shape"], dtype=dtype)
    if start % dtype.itemsize == 0:  # a view of the file's bytes; load_state_dict copies it
        return torch.frombuffer(data, dtype=dtype, count=(stop - start) // dtype.itemsize,
                                offset=start).reshape(entry["shape"])
    chunk = bytearray(data[start:stop])  # not aligned for its dtype: a copy that is
    return torch.frombuffer(chunk, dtype=dtype).reshape(entry["shape"])


def _check_fits(
    model: torch.nn.Module, shapes: Mapping[str, tuple[tuple[int, ...], torch.dtype]],
    label: str,
) -> None:
    """The file's tensors are the model's state: same keys, and each shape and dtype."""
    want = model.state_dict(keep_vars=True)
    missing = [k for k in want if k not in shapes]
    extra = [k for k in shapes if k not in want]
    wrong = [
        f"{k!r} is {shapes[k][0]} {shapes[k][1]} in the file, "
        f"{tuple(v.shape)} {v.dtype} in the config's model"
        for k, v in want.items()
        if k in shapes and not torch.nn.parameter.is_lazy(v)
        and (shapes[k][0] != tuple(v.shape) or shapes[k][1] != v.dtype)
    ]
    faults = [f"no tensor {k!r}" for k in missing[:5]] + [
        f"tensor {k!r} is in no step" for k in extra[:5]] + wrong[:5]
    if faults:
        raise SavedModelError(
            f"{label}: its weights do not fit its config: {'; '.join(faults)}"
        )


# Writing -------------------------------------------------------------------------------------


def _state_items(model: torch.nn.Module) -> list[tuple[str, Any]]:
    return list(model.state_dict(keep_vars=True).items())


def _bytes(tensor: torch.Tensor) -> bytes:
    """The tensor's values as little-endian bytes, in row-major order."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return bytes(flat.view(torch.uint8).numpy().tobytes()) if flat.dtype != torch.bool else \
        bytes(flat.to(torch.uint8).numpy().tobytes())


def _one_floating_dtype(model: torch.nn.Module, target: Path) -> torch.dtype | None:
    """The dtype of every floating-point parameter and buffer; several are refused."""
    found: dict[torch.dtype, list[str]] = {}
    for key, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point() and not torch.nn.parameter.is_lazy(tensor):
            found.setdefault(tensor.dtype, []).append(key)
    if len(found) > 1:
        kinds = "; ".join(f"{dtype}: {', '.join(repr(k) for k in keys[:2])}"
                          f"{', ...' if len(keys) > 2 else ''}" for dtype, keys in found.items())
        widest = max(found, key=lambda dtype: dtype.itemsize)
        raise ValueError(
            f"cannot save {target}: it holds floating-point tensors of several dtypes ({kinds})"
            "; a saved model is built and then converted to one dtype: convert the whole "
            f"model first, with model.to({widest}) for example"
        )
    return next(iter(found), None)


def _converted(model: Sequential, dtype: torch.dtype) -> Sequential:
    """A copy of ``model`` with its floating-point tensors in ``dtype`` (to describe it)."""
    memo: dict[int, Any] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            cast = tensor.detach().to(dtype)
            memo[id(tensor)] = (torch.nn.Parameter(cast, requires_grad=tensor.requires_grad)
                                if isinstance(tensor, torch.nn.Parameter) else cast)
    return copy.deepcopy(model, memo)


def _version() -> str:
    from . import __version__

    return __version__


def _pyg_version() -> str:
    try:
        return metadata.version("torch_geometric")
    except metadata.PackageNotFoundError:
        return "none"
