"""The hardware tests' helpers (benches, handmade programs, the random regression) live in this
folder; the tests of the gateware and of the RTL tooling live in subfolders, mirroring the tree."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
