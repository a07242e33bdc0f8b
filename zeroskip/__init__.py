"""zeroskip: compressed and binary networks on an EIE-like sparse accelerator.

The subpackages follow the data flow: ``zeroskip.models`` (networks, training, compression)
→ ``zeroskip.compiler`` (lowering onto the accelerator) → ``zeroskip.sim`` (cycle model and
energy) and ``zeroskip.hw`` (the contract and the Amaranth gateware).
"""

from .errors import ZeroskipError

__all__ = ["ZeroskipError"]
__version__ = "0.1.0"
