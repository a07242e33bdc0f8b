"""``zeroskip run --port sim``: the board's design (``board.BoardCore``: the accelerator behind the
UART bridge, the PLL replaced by a direct clock) compiled by Verilator with a small C++ harness
that clocks it and joins its UART pins to a pseudo-terminal. The host then opens the
pseudo-terminal with the very pyserial transport it uses for a board (``zeroskip.hw.transport``).

The harness speaks 8N1 at the design's clocks per bit (``SIM_CLOCKS_PER_BIT`` unless asked
otherwise), so a frame costs simulated cycles as on hardware, only at a higher bit rate. Builds are
cached with the RTL builds (``zeroskip.hw.rtl.build.cache_root``), by a hash of the Verilog, the
harness and Verilator's version. The harness exits when its parent does or closes its stdin.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from zeroskip.hw.arch import ArchConfig
from zeroskip.hw.rtl.build import (BUILD_ARGS, VERILATOR_MAKEFLAGS, _gateware_digest, _locked,
                                   _lock_path, _tail, _tool_version, cache_root)
from zeroskip.hw.rtl.toolchain import RtlError, _environment, require_simulator

TOPLEVEL = "zeroskip_board"
#: seconds the harness gets to print its pseudo-terminal's name
START_TIMEOUT_S = 30.0

HARNESS = r"""
// zeroskip --port sim: clock the board design, join its UART pins to a pseudo-terminal.
#include "V@TOP@.h"
#include "verilated.h"
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

double sc_time_stamp() { return 0; }

int main(int argc, char** argv) {
    const int n = argc > 1 ? atoi(argv[1]) : 4;          // clocks per bit
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) { perror("pty"); return 1; }
    const char* name = ptsname(master);
    int slave = open(name, O_RDWR | O_NOCTTY);             // held open: no EIO between opens
    termios raw;
    tcgetattr(slave, &raw);
    cfmakeraw(&raw);
    tcsetattr(slave, TCSANOW, &raw);
    fcntl(master, F_SETFL, O_NONBLOCK);
    printf("%s\n", name);
    fflush(stdout);

    VerilatedContext context;
    V@TOP@ top(&context);
    top.rx = 1; top.rst = 1;
    for (int i = 0; i < 8; i++) { top.clk = 0; top.eval(); top.clk = 1; top.eval(); }
    top.rst = 0;

    std::deque<unsigned char> to_dut, to_host;
    int tx_bit = -1, tx_timer = 0; unsigned tx_frame = 0;  // host -> design (its rx pin)
    int rx_bit = -1, rx_timer = 0; unsigned rx_byte = 0;  // design -> host (its tx pin)
    unsigned long long cycle = 0, quiet = 0;
    unsigned char buffer[4096];
    for (;; cycle++) {
        if ((cycle & 15) == 0 && to_dut.empty()) {
            ssize_t got = read(master, buffer, sizeof buffer);
            for (ssize_t i = 0; i < got; i++) to_dut.push_back(buffer[i]);
        }
        if (tx_bit < 0 && !to_dut.empty()) {                 // start a byte: start, 8 data, stop
            tx_frame = (unsigned(to_dut.front()) << 1) | (1u << 9);
            to_dut.pop_front();
            tx_bit = 0; tx_timer = n;
        }
        if (tx_bit >= 0) {
            top.rx = (tx_frame >> tx_bit) & 1;
            if (--tx_timer == 0) { tx_timer = n; if (++tx_bit == 10) tx_bit = -1; }
        } else {
            top.rx = 1;
        }
        top.clk = 0; top.eval(); top.clk = 1; top.eval();
        // sample the design's tx in the middle of each bit
        if (rx_bit < 0) {
            if (!top.tx) { rx_bit = 0; rx_timer = n / 2; }
        } else if (--rx_timer == 0) {
            rx_timer = n;
            if (rx_bit == 0) { if (top.tx) rx_bit = -1; else rx_bit = 1; }
            else if (rx_bit <= 8) { rx_byte = (rx_byte >> 1) | (top.tx ? 0x80u : 0); rx_bit++; }
            else { if (top.tx) to_host.push_back(rx_byte); rx_bit = -1; }
        }
        while (!to_host.empty()) {
            unsigned char c = to_host.front();
            if (write(master, &c, 1) != 1) break;
            to_host.pop_front();
        }
        bool busy = tx_bit >= 0 || rx_bit >= 0 || !to_dut.empty() || !to_host.empty();
        quiet = busy ? 0 : quiet + 1;
        if ((cycle & 0xFFFF) == 0) {                          // the parent closed our stdin: done
            pollfd p = {0, POLLIN, 0};
            if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLIN))) {
                if (read(0, buffer, sizeof buffer) <= 0) break;
            }
        }
        if (quiet > 4000000 && (cycle & 1023) == 0) usleep(1000);   // the host went quiet
    }
    close(slave);
    close(master);
    return 0;
}
"""


@dataclass
class SimBoard:
    """A running harness: ``port`` is the pseudo-terminal to open with pyserial."""

    process: subprocess.Popen
    port: str
    clocks_per_bit: int
    build_dir: Path

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def board_verilog(arch: ArchConfig, clocks_per_bit: int) -> str:
    from amaranth.back import verilog

    from zeroskip.hw.fpga.board import BoardCore

    return verilog.convert(BoardCore(arch, clocks_per_bit), name=TOPLEVEL, emit_src=False)


def cached_board_verilog(arch: ArchConfig, clocks_per_bit: int) -> str:
    """``board_verilog``, cached by the hardware fields, the divisor and the gateware's sources
    (generating a large array's Verilog takes longer than running a program on it)."""
    fields = {k: v for k, v in dataclasses.asdict(arch).items() if k not in ("name", "clock_mhz")}
    digest = hashlib.sha256(_gateware_digest().encode())
    digest.update(Path(__file__).with_name("board.py").read_bytes())
    key = hashlib.sha256(json.dumps([fields, clocks_per_bit, digest.hexdigest()],
                                    sort_keys=True).encode()).hexdigest()[:20]
    path = cache_root() / "verilog" / f"board-{key}.v"
    if path.exists():
        os.utime(path)
        return path.read_text()
    text = board_verilog(arch, clocks_per_bit)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return text


def build(arch: ArchConfig, clocks_per_bit: int, progress=None) -> Path:
    """The harness executable for ``arch``'s board design (built, or from the cache)."""
    require_simulator("verilator")
    text = cached_board_verilog(arch, clocks_per_bit)
    harness = HARNESS.replace("@TOP@", TOPLEVEL)
    key = hashlib.sha256("\0".join([_tool_version("verilator"), " ".join(BUILD_ARGS["verilator"]),
                                    harness, text]).encode()).hexdigest()[:20]
    directory = cache_root() / f"board-{key}"
    exe = directory / "Vboard"
    with _locked(_lock_path(directory)):
        if exe.exists():
            os.utime(directory)
            return exe
        if progress:
            progress(f"building the board design with Verilator (cached in {directory})")
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        (directory / f"{TOPLEVEL}.v").write_text(text)
        (directory / "harness.cpp").write_text(harness)
        argv = ["verilator", "--cc", "--exe", "--build", "-j", "2", "--top-module", TOPLEVEL,
                *BUILD_ARGS["verilator"], "--Mdir", "obj", f"{TOPLEVEL}.v", "harness.cpp",
                "-o", "Vboard"]
        log = directory / "build.log"
        with _environment(MAKEFLAGS=VERILATOR_MAKEFLAGS), open(log, "w") as out:
            status = subprocess.run(argv, cwd=directory, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL).returncode
        built = directory / "obj" / "Vboard"
        if status or not built.exists():
            message = f"Verilator build of the board design failed; its log ends:\n{_tail(log)}"
            shutil.rmtree(directory, ignore_errors=True)
            raise RtlError(message)
        shutil.copy2(built, directory / "Vboard.tmp")
        os.replace(directory / "Vboard.tmp", exe)
        shutil.rmtree(directory / "obj", ignore_errors=True)
    return exe


def start(arch: ArchConfig, clocks_per_bit: int, progress=None) -> SimBoard:
    """Build (or reuse) the harness and start it; returns once its pseudo-terminal exists."""
    exe = build(arch, clocks_per_bit, progress)
    process = subprocess.Popen([str(exe), str(clocks_per_bit)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + START_TIMEOUT_S
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, left))
        chunk = os.read(process.stdout.fileno(), 256) if ready else b""
        if not chunk:
            process.kill()
            process.wait()
            raise RtlError(f"the simulated board ({exe}) did not start: "
                           f"{process.stderr.read().decode(errors='replace').strip() or 'no output'}")
        line += chunk
    return SimBoard(process, line.decode().strip(), clocks_per_bit, exe.parent)
