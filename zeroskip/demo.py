"""``zeroskip demo``: the whole flow on LeNet-300-100, from training to co-verified RTL."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("-o", "--out", default="out/demo", help="directory for the demo's files")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from zeroskip.models.cli import demo_compress

    return demo_compress(args)
