"""The program manifest's schema, checked once: what ``load_program`` (hence the simulator,
``verify``, ``verilog`` and the reference) may trust about a program directory.

A program directory is input like any other: ``manifest.json`` could have been edited, copied
from elsewhere or cut short. ``read_manifest`` returns a ``Manifest`` only when

- the file is UTF-8 JSON of format ``zeroskip-program``, version 1, and a valid architecture;
- every layer has the fields of ``LayerInfo`` with the right types, a known kind, sizes within
  the architecture, and consecutive layers chain;
- every pass has the fields of ``Pass``, belongs to an existing layer in order, agrees with its
  layer (kind, input length, ReLU, bit planes, binarize, and the shift: ``in_frac + w_frac -
  out_frac`` for sparse passes and integer-output binary passes, ``out_frac`` for binarising
  binary passes, as ``compiler/pack.py`` and ``compiler/binary.py`` write them), and addresses
  only memory the architecture has;
- every image is a plain file inside the directory (no ``..``, no absolute path, no symlink
  leaving it, no device), of its one fixed dtype, a shape bounded by the architecture, a size
  equal to that shape, and a SHA-256 given as 64 hex digits.

Every problem is one ``ZeroskipError`` line naming the manifest and the field.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig, from_dict
from zeroskip.hw.program import (BINARY_KINDS, CONV_FIELDS, FORMAT, KIND_BINARY, KIND_BINARY_CONV,
                                 KIND_CONV, KIND_SPARSE, VERSION, WINDOW_KINDS, binary_pass_chunks,
                                 descriptor_layout, layout_width, column_count)

KINDS = (KIND_SPARSE, KIND_BINARY, KIND_CONV, KIND_BINARY_CONV)
#: a conv layer's geometry (``LayerInfo``); zero in the other kinds
LAYER_CONV = ("in_height", "in_width", "in_channels", "in_stride", "kernel", "stride", "pad",
              "out_channels", "out_stride", "op", "channel_base")
#: the one dtype each image is stored in (little-endian, as ``Program._write`` writes them)
IMAGE_DTYPES = {"sparse": "<u8", "ptr": "<i8", "bias": "<i8", "codebook": "<i8", "descriptors": "<u8"}
#: ``manifest.json`` larger than this is not one (a layer list of max_layers and max_passes
#: entries plus meta is far smaller)
MAX_MANIFEST_BYTES = 64 << 20
#: fractional bits of a fixed-point format: beyond this no 64-bit arithmetic holds them
MAX_FRAC = 64
#: the descriptor's shift field is 6 bits, its planes field 4 bits
MAX_SHIFT, MAX_PLANES = 63, 15

LAYER_INTS = ("in_len", "out_len", "in_frac", "w_frac", "out_frac")
LAYER_OPTIONAL = {"kind": KIND_SPARSE, "planes": 0, "binarize": False, "name": "",
                  **{name: 0 for name in LAYER_CONV}}
MAX_NAME = 256
PASS_INTS = ("kind", "layer", "in_len", "rows", "row_base", "ptr_base", "bias_base", "shift",
             "relu", "last")
PASS_OPTIONAL = ("planes", "binarize", "line_base") + CONV_FIELDS


@dataclass
class ImageEntry:
    name: str
    path: str          #: absolute, inside the program directory
    dtype: str
    shape: tuple[int, ...]
    sha256: str


@dataclass
class Manifest:
    path: str
    arch: ArchConfig
    layers: list[dict]
    passes: list[dict]
    images: dict[str, ImageEntry]
    output_index: list[int] | None
    meta: dict
    output_affine: dict | None = None   #: {"scale": [out], "offset": [out]} of integer scores


def is_program_directory(directory: str) -> bool:
    """A directory holding a ``manifest.json`` of format ``zeroskip-program`` (what
    ``zeroskip compile -o`` may replace)."""
    return directory_format(directory, "manifest.json") == FORMAT


#: a program tiled over space (zeroskip.compiler.spatial): its manifest and format
TILED_MANIFEST = "tiling.json"
TILED_FORMAT = "zeroskip-tiled-program"


def is_tiled_directory(directory: str) -> bool:
    """A directory holding a tiled program's ``tiling.json``."""
    return directory_format(directory, TILED_MANIFEST) == TILED_FORMAT


def is_compiled_directory(directory: str) -> bool:
    """A program directory or a tiled program directory (what ``zeroskip compile -o`` may
    replace)."""
    return is_program_directory(directory) or is_tiled_directory(directory)


def directory_format(directory: str, name: str) -> str | None:
    """The ``format`` a directory's JSON file ``name`` declares, or None when there is no such
    readable file (a program's ``manifest.json``, a tiled program's ``tiling.json``)."""
    path = os.path.join(directory, name)
    try:
        if not os.path.isdir(directory) or not os.path.isfile(path) \
                or os.path.getsize(path) > MAX_MANIFEST_BYTES:
            return None
        with open(path, "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return manifest.get("format") if isinstance(manifest, dict) else None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_flag(value) -> bool:
    return isinstance(value, bool) or value in (0, 1) and _is_int(value)


def read_json(path: str) -> object:
    """A small UTF-8 JSON file, or one error line."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        directory = os.path.dirname(path) or "."
        if is_tiled_directory(directory):
            parts = sorted(name for name in os.listdir(directory)
                           if os.path.isdir(os.path.join(directory, name)))
            raise ZeroskipError(f"{directory}: a program tiled over space (docs/conv.md); this "
                                f"command takes one of its parts: "
                                f"{', '.join(os.path.join(directory, p) for p in parts)}") from None
        raise ZeroskipError(f"{directory}: not a program directory (no manifest.json)") from None
    except OSError as error:
        raise ZeroskipError(f"{path}: cannot read ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ZeroskipError(f"{path}: not a regular file")
    if info.st_size > MAX_MANIFEST_BYTES:
        raise ZeroskipError(f"{path}: {info.st_size} bytes, larger than any manifest")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except OSError as error:
        raise ZeroskipError(f"{path}: cannot read ({error.strerror})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ZeroskipError(f"{path}: unreadable manifest (not UTF-8 text)") from None
    except (ValueError, RecursionError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ZeroskipError(f"{path}: unreadable manifest ({first})") from None


def read_manifest(directory: str) -> Manifest:
    """Read and check ``directory/manifest.json`` against the schema (module docstring)."""
    if not os.path.isdir(directory):
        raise ZeroskipError(f"{directory}: no such program directory")
    path = os.path.join(directory, "manifest.json")
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ZeroskipError(f"{path}: not a zeroskip program manifest")
    if manifest.get("version") != VERSION or not _is_int(manifest.get("version")):
        raise ZeroskipError(f"{path}: program format version {manifest.get('version')!r} "
                            f"(this zeroskip reads {VERSION})")
    for key in ("arch", "layers", "passes", "images"):
        if key not in manifest:
            raise ZeroskipError(f"{path}: malformed manifest (no '{key}')")
    if not isinstance(manifest["arch"], dict):
        raise ZeroskipError(f"{path}: 'arch' must be an object of architecture fields, got "
                            f"{type(manifest['arch']).__name__}")
    arch = from_dict(manifest["arch"], where=f"{path}: arch")
    layers = _layers(manifest["layers"], arch, path)
    passes = _passes(manifest["passes"], layers, arch, path)
    images = _images(manifest["images"], directory, arch, len(layers), len(passes), path)
    output_index = manifest.get("output_index")
    if output_index is not None:
        out_len = layers[-1]["out_len"]
        # a permutation of the outputs (balanced rows), or some of them (a graph's output is
        # some channels of its last map: zeroskip.compiler.graph); never one twice
        if not isinstance(output_index, list) or not all(_is_int(i) for i in output_index) \
                or not output_index or len(set(output_index)) != len(output_index) \
                or min(output_index) < 0 or max(output_index) >= out_len:
            raise ZeroskipError(f"{path}: output_index is not a selection of distinct outputs "
                                f"among the {out_len} outputs")
    meta = manifest.get("meta", {})
    if not isinstance(meta, dict):
        raise ZeroskipError(f"{path}: 'meta' must be an object")
    affine = manifest.get("output_affine")
    if affine is not None:
        out_len = layers[-1]["out_len"]
        if not isinstance(affine, dict) or set(affine) != {"scale", "offset"} or not all(
                isinstance(v, list) and len(v) == out_len and all(_is_number(x) for x in v)
                for v in affine.values()):
            raise ZeroskipError(f"{path}: output_affine must hold {out_len} finite numbers "
                                "under 'scale' and under 'offset'")
    return Manifest(path, arch, layers, passes, images, output_index, meta, affine)


def _is_number(value) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _record(value, where: str, ints, optional: dict, path: str) -> dict:
    if not isinstance(value, dict):
        raise ZeroskipError(f"{path}: {where} must be an object")
    known = set(ints) | set(optional) | {"relu"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ZeroskipError(f"{path}: {where} has an unknown field '{unknown[0]}'")
    out = dict(optional)
    out.update(value)
    for name in ints:
        if name not in value:
            raise ZeroskipError(f"{path}: {where} has no '{name}'")
        if not _is_int(value[name]):
            raise ZeroskipError(f"{path}: {where} field '{name}' must be an integer, got "
                                f"{value[name]!r}")
    return out


def _layers(value, arch: ArchConfig, path: str) -> list[dict]:
    if not isinstance(value, list) or not 1 <= len(value) <= arch.max_layers:
        raise ZeroskipError(f"{path}: 'layers' must be a list of 1..{arch.max_layers} layers "
                            "(the architecture's max_layers)")
    layers = []
    for index, raw in enumerate(value):
        where = f"layer {index}"
        layer = _record(raw, where, LAYER_INTS, LAYER_OPTIONAL, path)
        if "relu" not in layer:
            raise ZeroskipError(f"{path}: {where} has no 'relu'")
        for name in ("relu", "binarize"):
            if not _is_flag(layer[name]):
                raise ZeroskipError(f"{path}: {where} field '{name}' must be true or false")
        if not _is_int(layer["kind"]) or layer["kind"] not in KINDS:
            raise ZeroskipError(f"{path}: {where} has an unknown kind {layer['kind']!r} "
                                f"(0 sparse, 1 binary, 2 conv)")
        for name in ("in_len", "out_len"):
            if not 1 <= layer[name] <= arch.max_vector:
                raise ZeroskipError(f"{path}: {where} {name} {layer[name]} outside "
                                    f"1..{arch.max_vector} (act_depth x pes)")
        for name in ("in_frac", "w_frac", "out_frac"):
            if not -MAX_FRAC <= layer[name] <= MAX_FRAC:
                raise ZeroskipError(f"{path}: {where} {name} {layer[name]} outside "
                                    f"-{MAX_FRAC}..{MAX_FRAC}")
        if not _is_int(layer["planes"]) or not 0 <= layer["planes"] <= MAX_PLANES \
                or (layer["kind"] == KIND_SPARSE and (layer["planes"] or layer["binarize"])):
            raise ZeroskipError(f"{path}: {where} has bad 'planes'/'binarize' for its kind")
        if index and layer["in_len"] != layers[-1]["out_len"]:
            raise ZeroskipError(f"{path}: {where} takes {layer['in_len']} inputs but layer "
                                f"{index - 1} has {layers[-1]['out_len']} outputs")
        if not isinstance(layer["name"], str) or len(layer["name"]) > MAX_NAME:
            raise ZeroskipError(f"{path}: {where} field 'name' must be a string of at most "
                                f"{MAX_NAME} characters")
        _check_conv_layer(layer, arch, where, path)
        layer["relu"], layer["binarize"] = bool(layer["relu"]), bool(layer["binarize"])
        layers.append(layer)
    return layers


def _check_conv_layer(layer: dict, arch: ArchConfig, where: str, path: str) -> None:
    """A conv layer's geometry is one the array runs and matches its vector lengths; the other
    kinds have none."""
    from zeroskip.hw.conv import ConvGeometry

    if any(not _is_int(layer[name]) or layer[name] < 0 for name in LAYER_CONV):
        raise ZeroskipError(f"{path}: {where} has a conv field that is not a non-negative integer")
    if layer["kind"] not in WINDOW_KINDS:
        if any(layer[name] for name in LAYER_CONV):
            raise ZeroskipError(f"{path}: {where} has conv fields but is not a conv layer")
        return
    geometry = ConvGeometry(*(layer[name] for name in LAYER_CONV))
    problem = geometry.problem(arch.pes)
    if problem is None and (geometry.in_len, geometry.out_len) != (layer["in_len"], layer["out_len"]):
        problem = "window sizes disagree with in_len/out_len"
    if problem is None and geometry.columns > arch.max_vector:
        problem = f"{geometry.columns} window columns exceed act_depth x pes = {arch.max_vector}"
    if problem:
        raise ZeroskipError(f"{path}: {where} {problem}")


def pass_shift(layer: dict) -> int:
    """The shift a pass of ``layer`` carries (compiler/pack.py, compiler/binary.py)."""
    if layer["kind"] in BINARY_KINDS and layer["binarize"]:
        return layer["out_frac"]
    return layer["in_frac"] + layer["w_frac"] - layer["out_frac"]


def _passes(value, layers: list[dict], arch: ArchConfig, path: str) -> list[dict]:
    if not isinstance(value, list) or not len(layers) <= len(value) <= arch.max_passes:
        raise ZeroskipError(f"{path}: 'passes' must be a list of {len(layers)}.."
                            f"{arch.max_passes} passes (one or more per layer, max_passes)")
    passes, expected_layer = [], 0
    for index, raw in enumerate(value):
        where = f"pass {index}"
        p = _record(raw, where, PASS_INTS, {n: 0 for n in PASS_OPTIONAL}, path)
        for name in PASS_INTS + PASS_OPTIONAL:
            if not _is_int(p[name]) or p[name] < 0:
                raise ZeroskipError(f"{path}: {where} field '{name}' must be a non-negative "
                                    f"integer, got {p[name]!r}")
        if expected_layer >= len(layers):
            raise ZeroskipError(f"{path}: {where} comes after the last pass of the last layer")
        if p["layer"] != expected_layer:
            raise ZeroskipError(f"{path}: {where} is for layer {p['layer']}, expected layer "
                                f"{expected_layer} (passes run the layers in order)")
        layer = layers[p["layer"]]
        conv = layer["kind"] in WINDOW_KINDS
        agree = {"kind": layer["kind"], "relu": int(layer["relu"]),
                 "in_len": layer["in_channels"] if conv else layer["in_len"],
                 "planes": layer["planes"], "binarize": int(layer["binarize"]),
                 "shift": pass_shift(layer)}
        for name, want in agree.items():
            if p[name] != want:
                raise ZeroskipError(f"{path}: {where} {name} {p[name]} disagrees with layer "
                                    f"{p['layer']} ({name} {want})")
        if not 0 <= p["shift"] <= MAX_SHIFT:
            raise ZeroskipError(f"{path}: {where} shift {p['shift']} outside 0..{MAX_SHIFT}")
        if p["last"] not in (0, 1):
            raise ZeroskipError(f"{path}: {where} field 'last' must be 0 or 1")
        if p["lanes"] not in (0, 1) or (p["lanes"] and not arch.lane_passes):
            raise ZeroskipError(f"{path}: {where} field 'lanes' must be 0, or 1 on an architecture "
                                f"with lane passes (lane_passes 1)")
        if not 1 <= p["rows"] <= arch.acc_depth or p["row_base"] + p["rows"] > arch.act_depth:
            raise ZeroskipError(f"{path}: {where} rows {p['row_base']}..{p['row_base'] + p['rows']}"
                                f" outside the accumulators or the activation memory")
        if p["bias_base"] + p["rows"] > arch.bias_depth:
            raise ZeroskipError(f"{path}: {where} bias words beyond bias_depth {arch.bias_depth}")
        if not conv and any(p[name] for name in CONV_FIELDS):
            raise ZeroskipError(f"{path}: {where} has conv fields but is not a conv pass")
        columns = column_count(p["kind"], p["in_len"], p["kernel"])
        if p["kind"] not in BINARY_KINDS and p["ptr_base"] + columns + 1 > arch.ptr_depth:
            raise ZeroskipError(f"{path}: {where} pointers beyond ptr_depth {arch.ptr_depth}")
        if p["kind"] in BINARY_KINDS:
            lines = binary_pass_chunks(p["in_len"], p["kernel"], arch) * p["rows"]
            if p["line_base"] + lines > arch.sparse_depth:
                raise ZeroskipError(f"{path}: {where} weight lines beyond sparse_depth "
                                    f"{arch.sparse_depth}")
        if p["last"]:
            expected_layer += 1
        passes.append(p)
    if expected_layer != len(layers):
        raise ZeroskipError(f"{path}: the passes end inside layer {expected_layer} (its last "
                            "pass is missing)")
    return passes


def _images(value, directory: str, arch: ArchConfig, n_layers: int, n_passes: int,
            path: str) -> dict[str, ImageEntry]:
    if not isinstance(value, dict):
        raise ZeroskipError(f"{path}: 'images' must be an object")
    pieces = -(-layout_width(descriptor_layout(arch)) // 64)
    bounds = {"sparse": ((arch.pes, arch.pes), (0, arch.sparse_depth)),
              "ptr": ((arch.pes, arch.pes), (0, arch.ptr_depth)),
              "bias": ((arch.pes, arch.pes), (0, arch.bias_depth)),
              "codebook": ((n_layers, n_layers), (arch.codebook_size, arch.codebook_size)),
              "descriptors": ((n_passes, n_passes), (pieces, pieces))}
    root = os.path.realpath(directory)
    images = {}
    for name, dtype in IMAGE_DTYPES.items():
        where = f"image '{name}'"
        info = value.get(name)
        if info is None:
            raise ZeroskipError(f"{path}: image '{name}' missing from the manifest")
        if not isinstance(info, dict):
            raise ZeroskipError(f"{path}: {where} must be an object")
        file = info.get("file")
        if not isinstance(file, str) or not file or os.path.isabs(file) \
                or any(part in ("", ".", "..") for part in file.replace("\\", "/").split("/")) \
                or "\0" in file:
            raise ZeroskipError(f"{path}: {where} file {file!r} is not a plain file name "
                                "inside the program directory")
        full = os.path.join(directory, file)
        real = os.path.realpath(full)
        if not real.startswith(root + os.sep):
            raise ZeroskipError(f"{path}: {where} file {file!r} leads outside the program "
                                "directory")
        if info.get("dtype") != dtype:
            raise ZeroskipError(f"{path}: {where} dtype {info.get('dtype')!r} (this image is "
                                f"stored as {dtype!r})")
        shape = info.get("shape")
        if not isinstance(shape, list) or len(shape) != 2 or not all(_is_int(n) for n in shape):
            raise ZeroskipError(f"{path}: {where} shape {shape!r} is not two integers")
        for axis, (n, (low, high)) in enumerate(zip(shape, bounds[name])):
            if not low <= n <= high:
                raise ZeroskipError(f"{path}: {where} shape {shape} outside the architecture's "
                                    f"bounds ({low}..{high} along axis {axis})")
        digest = info.get("sha256")
        if not isinstance(digest, str) or len(digest) != 64 \
                or any(c not in "0123456789abcdef" for c in digest):
            raise ZeroskipError(f"{path}: {where} has no SHA-256 (64 hex digits)")
        images[name] = ImageEntry(name, full, dtype, tuple(shape), digest)
    return images


def read_image(entry: ImageEntry) -> bytes:
    """The image's bytes, after checking it is a regular file of exactly its shape's size."""
    import hashlib

    expected = 8 * entry.shape[0] * entry.shape[1]
    try:
        info = os.stat(entry.path)
    except OSError:
        raise ZeroskipError(f"{entry.path}: program image missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise ZeroskipError(f"{entry.path}: program image is not a regular file")
    if info.st_size != expected:
        raise ZeroskipError(f"{entry.path}: program image has {info.st_size} bytes, expected "
                            f"{expected}")
    try:
        with open(entry.path, "rb") as f:
            data = f.read(expected + 1)
    except OSError as error:
        raise ZeroskipError(f"{entry.path}: cannot read ({error.strerror})") from None
    if len(data) != expected:
        raise ZeroskipError(f"{entry.path}: program image has {len(data)} bytes, expected "
                            f"{expected}")
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise ZeroskipError(f"{entry.path}: program image corrupted (checksum mismatch)")
    return data


def check_pointers(ptr, passes: list[dict], path: str) -> None:
    """Each sparse pass's column pointers never decrease (a column is a range of entries)."""
    import numpy as np

    for index, p in enumerate(passes):
        if p["kind"] in BINARY_KINDS:
            continue
        columns = column_count(p["kind"], p["in_len"], p["kernel"])
        window = ptr[:, p["ptr_base"]: p["ptr_base"] + columns + 1]
        if window.shape[1] != columns + 1 or np.any(np.diff(window, axis=1) < 0):
            raise ZeroskipError(f"{path}: pass {index} column pointers are not non-decreasing "
                                "within the ptr image")
