"""The ArchConfig contract (hw/arch.py): validation names the bad field, presets load, a config
survives to_dict / from_dict and JSON files, and every derived size agrees with the fields."""

import dataclasses
import json
import random

import pytest

from zeroskip.errors import ZeroskipError
from zeroskip.hw.arch import (FIELDS, PIPELINE_SWITCHES, PRESETS, TIMING_SWITCHES, ArchConfig,
                              from_dict, load_arch, with_overrides)

SWITCHES = TIMING_SWITCHES + PIPELINE_SWITCHES
INTEGER_FIELDS = [name for name, f in FIELDS.items()
                  if name not in ("name", "clock_mhz") and name not in SWITCHES]


def random_config(rng: random.Random) -> ArchConfig:
    """A valid configuration drawn over the fields' whole ranges."""
    code_bits, run_bits = rng.randint(1, 8), rng.randint(1, 8)
    entry = code_bits + run_bits
    line_bits = entry * rng.randint(max(1, -(-8 // entry)), 64 // entry)
    act_bits, weight_bits = rng.randint(2, 32), rng.randint(2, 32)
    act_depth = rng.randint(1, 2048)
    return ArchConfig(name=f"random{rng.randint(0, 999)}", pes=rng.randint(1, 64),
                      fifo_depth=rng.randint(1, 64), code_bits=code_bits, run_bits=run_bits,
                      line_bits=line_bits, sparse_depth=rng.randint(1, 4096),
                      ptr_depth=2 * rng.randint(1, 2048), act_bits=act_bits, act_depth=act_depth,
                      weight_bits=weight_bits, acc_bits=act_bits + weight_bits + rng.randint(0, 8),
                      acc_depth=rng.randint(1, act_depth), bias_depth=rng.randint(1, 2048),
                      max_layers=rng.randint(1, 64), max_passes=rng.randint(1, 256),
                      clock_mhz=rng.choice([100.0, 800.0, 250, 33.3]))


CONFIGS = [PRESETS["eie64"], PRESETS["small"], ArchConfig()] + \
    [random_config(random.Random(seed)) for seed in range(20)]


# -- presets -------------------------------------------------------------------------------------
def test_presets_load_by_name():
    for name, preset in PRESETS.items():
        assert load_arch(name) is preset
        assert preset.name == name
    assert load_arch(PRESETS["small"]) is PRESETS["small"]


def test_eie64_is_the_published_design():
    """EIE (Han et al., ISCA 2016): 64 PEs, 4-bit codes and runs in 64-bit lines, 16-bit
    fixed point, 128 KB sparse and 32 KB pointer SRAM per PE, 800 MHz."""
    eie = PRESETS["eie64"]
    assert (eie.pes, eie.code_bits, eie.run_bits, eie.line_bits) == (64, 4, 4, 64)
    assert (eie.act_bits, eie.weight_bits, eie.clock_mhz) == (16, 16, 800.0)
    assert eie.sparse_depth * eie.line_bits // 8 == 128 * 1024
    assert eie.ptr_depth * 16 // 8 == 32 * 1024
    assert eie.entries_per_line == 8 and eie.codebook_size == 16


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ZeroskipError, match="unknown architecture 'eie65'.*eie64"):
        load_arch("eie65")


# -- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", INTEGER_FIELDS)
@pytest.mark.parametrize("bad", [0, -3, 2.5, "8", True, None])
def test_a_bad_integer_field_is_named(name, bad):
    with pytest.raises(ZeroskipError, match=f"field '{name}'") as error:
        dataclasses.replace(PRESETS["small"], **{name: bad})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize("bad", [2, -1, 0.5, "1", True, None])
def test_a_bad_switch_is_named(name, bad):
    with pytest.raises(ZeroskipError, match=f"field '{name}' is a switch") as error:
        dataclasses.replace(PRESETS["small"], **{name: bad})
    assert "\n" not in str(error.value)


def test_switches_default_off_and_zs64_is_eie64_with_them_on():
    assert all(getattr(PRESETS[name], switch) == 0 for name in PRESETS if name != "zs64"
               for switch in TIMING_SWITCHES)
    zs64, eie64 = PRESETS["zs64"].to_dict(), PRESETS["eie64"].to_dict()
    assert {k for k in zs64 if zs64[k] != eie64[k]} == {"name", "fifo_depth", *TIMING_SWITCHES}
    assert all(zs64[switch] == 1 for switch in TIMING_SWITCHES)


def test_a_switch_off_leaves_the_fingerprint_as_before():
    """Arrays built before the switches existed keep their ID register's value."""
    from zeroskip.hw.regmap import fingerprint
    small = PRESETS["small"]
    assert all(getattr(PRESETS[name], switch) == 0 for name in PRESETS for switch in PIPELINE_SWITCHES)
    for switch in SWITCHES:
        on = dataclasses.replace(small, **{switch: 1})
        assert fingerprint(on) != fingerprint(small)
    assert fingerprint(PRESETS["eie64"]) == fingerprint(dataclasses.replace(
        PRESETS["zs64"], name="eie64", fifo_depth=8, **{s: 0 for s in TIMING_SWITCHES}))


@pytest.mark.parametrize("bad", [0, -1.0, "fast", None])
def test_a_bad_clock_is_named(bad):
    with pytest.raises(ZeroskipError, match="field 'clock_mhz'"):
        dataclasses.replace(PRESETS["small"], clock_mhz=bad)


@pytest.mark.parametrize("changes,field", [
    ({"pes": 1025}, "pes"), ({"fifo_depth": 65}, "fifo_depth"), ({"code_bits": 13}, "code_bits"),
    ({"run_bits": 9}, "run_bits"), ({"act_bits": 1}, "act_bits"), ({"act_bits": 33}, "act_bits"),
    ({"weight_bits": 1}, "weight_bits"), ({"line_bits": 72}, "line_bits"),
    ({"line_bits": 60}, "line_bits"),                         # not a multiple of 4 + 4
    ({"code_bits": 3, "run_bits": 4, "line_bits": 64}, "line_bits"),
    ({"ptr_depth": 1023}, "ptr_depth"),                       # two banks
    ({"acc_bits": 31}, "acc_bits"),                           # < act_bits + weight_bits
    ({"acc_depth": 512, "act_depth": 256}, "acc_depth"),
])
def test_out_of_range_and_inconsistent_fields_are_named(changes, field):
    with pytest.raises(ZeroskipError, match=f"field '{field}'") as error:
        dataclasses.replace(PRESETS["small"], **changes)
    assert "\n" not in str(error.value)


def test_the_limits_themselves_are_accepted():
    small = PRESETS["small"]
    for changes in ({"pes": 1}, {"pes": 1024}, {"fifo_depth": 1}, {"fifo_depth": 64},
                    {"code_bits": 4, "run_bits": 4, "line_bits": 8},
                    {"acc_bits": 32, "act_bits": 16, "weight_bits": 16},
                    {"acc_depth": 256, "act_depth": 256}, {"ptr_depth": 2}):
        config = dataclasses.replace(small, **changes)
        assert all(getattr(config, k) == v for k, v in changes.items())


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["small"].pes = 8


# -- dicts, files, overrides ------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_to_dict_from_dict_round_trip(config):
    values = config.to_dict()
    assert set(values) == set(FIELDS)
    assert from_dict(values) == config
    assert from_dict(json.loads(json.dumps(values))) == config


def test_from_dict_starts_from_a_base_preset():
    config = from_dict({"base": "eie64", "pes": 8, "name": "eie8"})
    assert config == dataclasses.replace(PRESETS["eie64"], pes=8, name="eie8")
    assert from_dict({}) == ArchConfig()


def test_from_dict_names_unknown_fields_and_bases():
    with pytest.raises(ZeroskipError, match="where.txt: unknown architecture field 'lanes'"):
        from_dict({"pes": 4, "lanes": 2}, where="where.txt")
    with pytest.raises(ZeroskipError, match="unknown base preset.*eie128"):
        from_dict({"base": "eie128"})
    with pytest.raises(ZeroskipError, match="field 'fifo_depth'"):
        from_dict({"base": "small", "fifo_depth": 0})


def test_json_file_round_trip(tmp_path):
    path = tmp_path / "arch.json"
    for config in CONFIGS[:6]:
        path.write_text(json.dumps(config.to_dict()))
        assert load_arch(str(path)) == config
    path.write_text(json.dumps({"base": "small", "pes": 16}))
    assert load_arch(str(path)) == dataclasses.replace(PRESETS["small"], pes=16)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"pes": 0}', '{"bogus": 1}'])
def test_bad_json_files_are_one_line_naming_the_file(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ZeroskipError) as error:
        load_arch(str(path))
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_with_overrides():
    small = PRESETS["small"]
    assert with_overrides(small) is small
    assert with_overrides(small, pes=None, fifo_depth=None) is small
    assert with_overrides(small, pes=16, fifo_depth=2) == dataclasses.replace(small, pes=16, fifo_depth=2)
    with pytest.raises(ZeroskipError, match="unknown architecture field 'lanes'"):
        with_overrides(small, lanes=2)
    with pytest.raises(ZeroskipError, match="'pes'"):
        with_overrides(small, pes=0)


# -- derived sizes ------------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_derived_sizes_agree_with_the_fields(config):
    c = config
    assert c.entry_bits == c.code_bits + c.run_bits
    assert c.entries_per_line * c.entry_bits == c.line_bits
    assert c.sparse_entries == c.sparse_depth * c.entries_per_line
    assert c.codebook_size == 2 ** c.code_bits
    assert c.max_run == 2 ** c.run_bits - 1
    # a pointer holds every entry index 0..sparse_entries, and not one bit more than needed
    assert 2 ** c.ptr_bits > c.sparse_entries >= 2 ** (c.ptr_bits - 1)
    assert 2 * c.ptr_bank_depth == c.ptr_depth
    assert c.max_vector == c.act_depth * c.pes
    assert 2 ** c.act_index_bits > c.max_vector - 1
    assert c.act_index_bits == 1 or c.max_vector - 1 >= 2 ** (c.act_index_bits - 1)
    assert c.cycle_ns * c.clock_mhz == pytest.approx(1000.0)


def test_the_largest_benchmark_configuration_is_allowed():
    """`zeroskip bench eie` runs VGG-6 on eie64 with its pointer memory raised to 25,090 words
    per PE: the array-size bound must leave room for it."""
    from zeroskip.hw.arch import PRESETS, with_overrides

    with_overrides(PRESETS["eie64"], ptr_depth=25090)
