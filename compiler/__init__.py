"""compiler: lowers a compressed fully-connected network onto the accelerator (a ``Program``)."""

from zeroskip.compiler.flow import compile, compile_file, compile_layers  # noqa: A004

__all__ = ["compile", "compile_layers", "compile_file"]
