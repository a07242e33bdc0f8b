"""compiler: lowers a compressed fully-connected network onto the accelerator (a ``Program``)."""

from zeroskip.compiler.flow import compile_file, compile_layers

__all__ = ["compile_layers", "compile_file"]
