"""Amaranth layouts of the program format's packed words, built from ``zeroskip.hw.program`` so
field offsets are defined once (the testbenches pack with ``program.pack_fields``)."""

from __future__ import annotations

from amaranth.lib import data

from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.program import descriptor_layout, entry_layout


def entry_struct(arch: ArchConfig) -> data.StructLayout:
    """One sparse entry: ``code`` then ``run``, LSB first."""
    return data.StructLayout(dict(entry_layout(arch)))


def descriptor_struct(arch: ArchConfig) -> data.StructLayout:
    """One pass descriptor, as the control unit holds it."""
    return data.StructLayout(dict(descriptor_layout(arch)))
