"""The bus address map: regions aligned, disjoint, every entry word addressable once; the ID
fingerprint follows the hardware fields only."""

import dataclasses
import json

import pytest

from zeroskip.hw import regmap
from zeroskip.hw.arch import PRESETS

from benches import tiny


@pytest.mark.parametrize("arch", [PRESETS["small"], PRESETS["eie64"], tiny(pes=3)])
def test_regions_aligned_and_disjoint(arch):
    regions = sorted(regmap.regions(arch).values(), key=lambda r: r.base)
    assert regions[0].base >= regmap.REGISTER_WORDS
    for r in regions:
        assert r.size & (r.size - 1) == 0 and r.base % r.size == 0
        assert r.words == -(-r.width // 32) <= r.stride
        pes = arch.pes if r.per_pe else 1
        last = r.address(r.depth - 1, pes - 1, r.words - 1)
        assert r.base <= last < r.base + r.size
    for a, b in zip(regions, regions[1:]):
        assert a.base + a.size <= b.base
    assert max(r.base + r.size for r in regions) <= 1 << regmap.address_bits(arch)


def test_fingerprint_ignores_name_and_clock_only():
    small = PRESETS["small"]
    same = dataclasses.replace(small, name="other", clock_mhz=250.0)
    assert regmap.fingerprint(same) == regmap.fingerprint(small)
    assert regmap.fingerprint(dataclasses.replace(small, fifo_depth=4)) != regmap.fingerprint(small)
    assert regmap.fingerprint(PRESETS["eie64"]) != regmap.fingerprint(small)
    assert 0 <= regmap.fingerprint(small) < 1 << 32


def test_register_map_is_json():
    data = json.loads(json.dumps(regmap.register_map(PRESETS["small"])))
    assert data["id"] == regmap.fingerprint(PRESETS["small"])
    assert data["registers"]["id"] == regmap.REG_ID
    assert set(data["regions"]) == set(regmap.PE_MEMORIES + regmap.GLOBAL_MEMORIES)


def test_differences_names_fields():
    small = PRESETS["small"]
    assert regmap.differences(small, dataclasses.replace(small, name="x")) == "none"
    assert regmap.differences(small, dataclasses.replace(small, pes=8, fifo_depth=2)) == \
        "pes 4 vs 8, fifo_depth 8 vs 2"
