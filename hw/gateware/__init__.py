"""The gateware: Amaranth components that implement the contract in ``zeroskip.hw``."""
