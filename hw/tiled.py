"""A program tiled over space (docs/conv.md "Spatial tiling"): the artifact
``zeroskip.compiler.spatial`` makes, and what every rung runs. Its first layers run in stages,
each tile shape's program an ordinary ``Program`` run on the crops of its stage's input map; the
host stitches each stage's output map whole; then the rest of the network (the *tail*) runs as
one program. ``TiledProgram.run(xq, rung)`` runs the parts on any rung and stitches; its
directory is ``tiling.json`` beside a program directory per part.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.manifest import (TILED_FORMAT as FORMAT, TILED_MANIFEST as MANIFEST,
                                  is_tiled_directory)
from zeroskip.hw.program import LayerInfo, Program

VERSION = 1
#: the tail's directory inside a tiled program directory
TAIL = "tail"


@dataclass
class Stage:
    """Layers ``first .. end − 1`` run tile by tile on the map ``in_map`` (height, width,
    stride: the image, or the previous stage's stitched output), writing ``out_map``. Each
    tile names its shape's program in ``programs`` (``"program"``) and, per axis (``"rows"``,
    ``"cols"``), its ``"crop"`` [lo, hi) of the input map, the outputs it supplies (``"keep"``
    [lo, hi) of the output map), where they start in its own outputs (``"from"``) and how many
    outputs it has (``"out"``)."""

    first: int
    end: int
    in_map: tuple
    out_map: tuple
    tiles: list[dict]
    programs: dict[str, Program]

    def crops(self, maps: np.ndarray) -> dict[str, np.ndarray]:
        """Per tile program, the crops of the integer maps ``maps`` [n, H·W·S] it runs:
        [tiles · n, crop], tile by tile, the batch inside."""
        height, width, stride = self.in_map
        maps = np.asarray(maps).reshape(len(maps), height, width, stride)
        out: dict[str, list] = {}
        for t in self.tiles:
            (r0, r1), (c0, c1) = t["rows"]["crop"], t["cols"]["crop"]
            out.setdefault(t["program"], []).append(maps[:, r0:r1, c0:c1].reshape(len(maps), -1))
        return {key: np.concatenate(parts) for key, parts in out.items()}

    def stitch(self, outputs: dict[str, np.ndarray], batch: int) -> np.ndarray:
        """The stage's output maps [n, OH·OW·S] from each tile program's outputs (in the order
        ``crops`` gave their inputs): every tile's right outputs in their place."""
        height, width, stride = self.out_map
        whole = np.zeros((batch, height, width, stride), np.int64)
        taken = {key: 0 for key in outputs}
        for t in self.tiles:
            key = t["program"]
            rows, cols = t["rows"], t["cols"]
            part = outputs[key][taken[key] * batch:(taken[key] + 1) * batch]
            taken[key] += 1
            part = part.reshape(batch, rows["out"], cols["out"], stride)
            (k0, k1), (j0, j1) = rows["keep"], cols["keep"]
            whole[:, k0:k1, j0:j1] = part[:, rows["from"]:rows["from"] + k1 - k0,
                                          cols["from"]:cols["from"] + j1 - j0]
        return whole.reshape(batch, -1)

    def host_words(self) -> dict[str, int]:
        """Activations the host writes (every crop) and reads (every tile's right outputs)."""
        def area(t, what):
            return ((t["rows"][what][1] - t["rows"][what][0]) *
                    (t["cols"][what][1] - t["cols"][what][0]))
        return {"in": sum(area(t, "crop") for t in self.tiles) * self.in_map[2],
                "out": sum(area(t, "keep") for t in self.tiles) * self.out_map[2]}

    def to_json(self) -> dict:
        return {"first": self.first, "end": self.end, "in_map": list(self.in_map),
                "out_map": list(self.out_map), "tiles": self.tiles,
                "programs": sorted(self.programs)}


@dataclass
class TiledProgram:
    """A network that runs its first layers tile by tile, in ``stages`` (each tile shape's
    program an ordinary ``Program``), the host stitching each stage's output map whole, and
    then its ``tail`` as one program (None when the stages are the network). ``layers`` are
    the whole network's, with the whole maps' geometry (the host's view of its input and
    output)."""

    arch: ArchConfig
    layers: list[LayerInfo]
    stages: list[Stage]
    tail: Program | None = None
    meta: dict = field(default_factory=dict)

    @property
    def in_len(self) -> int:
        return self.layers[0].in_len

    @property
    def out_len(self) -> int:
        return self.layers[-1].out_len

    @property
    def in_map(self) -> tuple:
        first = self.layers[0]
        return first.in_height, first.in_width, first.in_channels

    @property
    def segment(self) -> int:
        """Layers run tile by tile."""
        return self.stages[-1].end

    @property
    def out_map(self) -> tuple:
        """The last stage's output map (height, width, stride): the tail's input."""
        return self.stages[-1].out_map

    @property
    def tiles(self) -> list[dict]:
        return [t for stage in self.stages for t in stage.tiles]

    @property
    def programs(self) -> dict[str, Program]:
        return {key: p for stage in self.stages for key, p in stage.programs.items()}

    @property
    def output_affine(self):
        return None if self.tail is None else self.tail.output_affine

    @property
    def parts(self) -> dict[str, Program]:
        """Every program of the plan by name: the tile shapes', stage by stage, then the tail's."""
        parts = dict(self.programs)
        if self.tail is not None:
            parts[TAIL] = self.tail
        return parts

    def first_layer(self, name: str) -> int:
        """The network's index of a part's layer 0 (its stage's first layer, or the tail's)."""
        if name == TAIL:
            return self.segment
        return next(stage.first for stage in self.stages if name in stage.programs)

    def runs(self, name: str) -> int:
        """How many times a part runs for one input."""
        return sum(t["program"] == name for t in self.tiles) or int(name == TAIL)

    def host_words(self) -> dict[str, int]:
        """Activations the host moves per input: every crop into the array and every tile's
        right outputs out of it, stage by stage, then the stitched map into the tail and its
        outputs out (an untiled program moves its input and its output)."""
        words = [stage.host_words() for stage in self.stages]
        tail = (self.tail.in_len, self.out_len) if self.tail is not None else (0, 0)
        return {"in": sum(w["in"] for w in words) + tail[0],
                "out": sum(w["out"] for w in words) + tail[1]}

    def check_fits(self) -> None:
        """Every part within the architecture's memories (``Program.check_fits``)."""
        for program in self.parts.values():
            program.check_fits()

    def class_scores(self, outputs: np.ndarray) -> np.ndarray:
        return outputs if self.tail is None else self.tail.class_scores(outputs)

    def logical_output(self, hw_out: np.ndarray) -> np.ndarray:
        return hw_out if self.tail is None else self.tail.logical_output(hw_out)

    def run(self, xq: np.ndarray, rung) -> tuple[np.ndarray, np.ndarray | None, dict]:
        """Integer inputs [n, in] → the network's integer outputs [n, out] (array order), the
        cycles per input (every tile's and the tail's, summed; None when ``rung`` has none), and
        per part its cycles per input. ``rung(name, program, xq)`` → (outputs, cycles or None)
        runs one program on one rung."""
        maps = np.atleast_2d(np.asarray(xq, np.int64))
        batch = len(maps)
        cycles, parts, timed = np.zeros(batch, np.int64), {}, True
        for stage in self.stages:
            outputs = {}
            for key, crops in stage.crops(maps).items():
                out, spent = rung(key, stage.programs[key], crops)
                outputs[key] = np.asarray(out, np.int64)
                if spent is None:
                    timed = False
                    continue
                parts[key] = np.asarray(spent, np.int64).reshape(-1, batch).sum(axis=0)
                cycles += parts[key]
            maps = stage.stitch(outputs, batch)
        if self.tail is not None:
            maps, spent = rung(TAIL, self.tail, maps)
            maps = np.asarray(maps, np.int64)
            if spent is None:
                timed = False
            else:
                parts[TAIL] = np.asarray(spent, np.int64)
                cycles += parts[TAIL]
        return maps, (cycles if timed else None), parts

    # files ------------------------------------------------------------------------------------
    def save(self, directory: str) -> None:
        """One directory: ``tiling.json`` and a program directory per part, written atomically."""
        from zeroskip.files import write_directory_atomic
        from zeroskip.hw.manifest import is_compiled_directory

        self.check_fits()
        write_directory_atomic(directory, self._write, replaceable=is_compiled_directory,
                               what="zeroskip program directory")

    def _write(self, tmp: str) -> None:
        for name, program in self.parts.items():
            os.mkdir(os.path.join(tmp, name))
            program._write(os.path.join(tmp, name))
        manifest = {"format": FORMAT, "version": VERSION, "arch": self.arch.to_dict(),
                    "layers": [dataclasses.asdict(layer) for layer in self.layers],
                    "stages": [stage.to_json() for stage in self.stages],
                    "tail": self.tail is not None, "meta": self.meta}
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=1)


def load_tiled(directory: str) -> TiledProgram:
    """A tiled program directory (``TiledProgram.save``), every part checked as a program."""
    from zeroskip.hw.program import load_program

    if not is_tiled_directory(directory):
        raise ZeroskipError(f"{directory}: not a tiled program directory (no readable {MANIFEST})")
    where = f"{directory}/{MANIFEST}"
    with open(os.path.join(directory, MANIFEST), "rb") as f:
        manifest = json.loads(f.read().decode("utf-8"))
    try:
        if manifest.get("version") != VERSION:
            raise ZeroskipError(f"{where}: version {manifest.get('version')!r}, this zeroskip "
                                f"reads {VERSION}")
        stages = []
        for entry in manifest["stages"]:
            names = [str(name) for name in entry["programs"]]
            if any(os.sep in name or name.startswith(".") or name == TAIL for name in names):
                raise ZeroskipError(f"{where}: a program name is not a plain name")
            programs = {name: load_program(os.path.join(directory, name)) for name in names}
            stage = Stage(int(entry["first"]), int(entry["end"]),
                          tuple(int(n) for n in entry["in_map"]),
                          tuple(int(n) for n in entry["out_map"]), list(entry["tiles"]), programs)
            for t in stage.tiles:
                if t["program"] not in programs:
                    raise ZeroskipError(f"{where}: a tile names the program {t['program']!r}, "
                                        "which is not there")
            stages.append(stage)
        if not stages:
            raise ZeroskipError(f"{where}: no stage")
        tail = load_program(os.path.join(directory, TAIL)) if manifest["tail"] else None
        layers = [LayerInfo(**layer) for layer in manifest["layers"]]
        arch = next(iter(stages[0].programs.values())).arch
        tiled = TiledProgram(arch, layers, stages, tail, dict(manifest.get("meta") or {}))
    except (KeyError, TypeError, ValueError, StopIteration) as error:
        raise ZeroskipError(f"{where}: malformed ({type(error).__name__}: {error})") from None
    return tiled


def load_any(directory: str):
    """A program directory or a tiled program directory."""
    from zeroskip.hw.program import load_program

    return load_tiled(directory) if is_tiled_directory(directory) else load_program(directory)


