"""The pyserial transport (hw/transport.py) on a pseudo-terminal: writes gathered into bursts, and
every bad link condition (no device, silence, a corrupted or refused answer) one ``LinkError``
within its timeout. The peer here is a byte-level device speaking ``zeroskip.hw.link`` (the real
bridge is tested in tests/hw/gateware/test_uart.py and end to end in tests/zeroskip/test_cli_run.py);
it exists to produce the faults a real link produces."""

from __future__ import annotations

import asyncio
import os
import pty
import threading
import time

import pytest

from zeroskip.hw import link
from zeroskip.hw.transport import LinkError, SerialTransport


class Peer:
    """A device on the far side of a pseudo-terminal: a word memory behind ``link``'s framing;
    ``corrupt`` flips a bit of every answer's crc, ``silent`` answers nothing."""

    def __init__(self, corrupt=False, silent=False):
        self.master, slave = pty.openpty()
        self.path = os.ttyname(slave)
        self.slave = slave
        self.memory = {}
        self.requests = []
        self.corrupt, self.silent = corrupt, silent
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def _read(self, n):
        data = b""
        while len(data) < n and not self.stop:
            try:
                data += os.read(self.master, n - len(data))
            except OSError:
                return None
        return data

    def serve(self):
        while not self.stop:
            head = self._read(link.HEADER_BYTES)
            if not head:
                return
            command, words = head[0], head[1] + 1
            address = int.from_bytes(head[2:6], "little")
            body = self._read(4 * words + 1 if command == link.CMD_WRITE else 1)
            frame = head + body
            self.requests.append((command, address, words))
            if self.silent:
                continue
            if link.crc8(frame[:-1]) != frame[-1]:
                answer = bytes([link.NAK_CHECKSUM])
            elif command == link.CMD_WRITE:
                for i, w in enumerate(link.words_of(body[:-1])):
                    self.memory[address + i] = w
                answer = bytes([link.ACK_WRITE])
            else:
                answer = bytes([link.ACK_READ]) + b"".join(
                    self.memory.get(address + i, 0).to_bytes(4, "little") for i in range(words))
            answer += bytes([link.crc8(answer) ^ (1 if self.corrupt else 0)])
            os.write(self.master, answer)

    def close(self):
        self.stop = True
        os.close(self.slave)
        os.close(self.master)


@pytest.fixture
def peer(request):
    device = Peer(**getattr(request, "param", {}))
    yield device
    device.close()


def test_writes_are_gathered_into_bursts_and_read_back(peer):
    transport = SerialTransport(peer.path, 115200, timeout_s=2)

    async def talk():
        for i in range(300):                      # 300 consecutive words: two bursts
            await transport.write(0x100 + i, i * 7)
        await transport.write(0x10, 5)            # a gap: a third
        return [await transport.read(0x100 + i) for i in (0, 255, 256, 299)], await transport.read(0x10)

    words, single = asyncio.run(talk())
    transport.close()
    assert words == [0, 255 * 7, 256 * 7, 299 * 7] and single == 5
    writes = [r for r in peer.requests if r[0] == link.CMD_WRITE]
    assert writes == [(link.CMD_WRITE, 0x100, 256), (link.CMD_WRITE, 0x100 + 256, 44),
                      (link.CMD_WRITE, 0x10, 1)]


@pytest.mark.parametrize("peer", [{"corrupt": True}], indirect=True)
def test_a_corrupted_answer_is_one_error(peer):
    transport = SerialTransport(peer.path, 115200, timeout_s=2)
    with pytest.raises(LinkError, match="corrupted frame from the device"):
        transport.read_burst(0, 1)
    transport.port.close()


@pytest.mark.parametrize("peer", [{"silent": True}], indirect=True)
def test_a_silent_device_times_out(peer):
    transport = SerialTransport(peer.path, 115200, timeout_s=0.3)
    start = time.monotonic()
    with pytest.raises(LinkError, match=r"no answer reading 1 words at 0x0 within 0.3 s"):
        transport.read_burst(0, 1)
    assert time.monotonic() - start < 30       # bounded, not a hang (no timing asserted)
    transport.port.close()


def test_a_refused_request_is_named(peer):
    transport = SerialTransport(peer.path, 115200, timeout_s=2)
    transport.port.write(link.read_request(0, 1)[:-1] + b"\x00")   # a corrupted request
    with pytest.raises(LinkError, match="corrupted request"):
        transport._transact(b"", link.ACK_READ, 1, "reading")
    transport.port.close()


def test_no_device_is_one_line(tmp_path):
    with pytest.raises(LinkError, match=r"--port .*nothing: cannot open it"):
        SerialTransport(str(tmp_path / "nothing"), 115200)


def test_a_board_built_for_another_architecture_is_refused(peer):
    """The ID register holds another fingerprint: ``Host.check_id`` names both."""
    from zeroskip.errors import ZeroskipError
    from zeroskip.hw import regmap
    from zeroskip.hw.fpga.flow import TINY_ARCH
    from zeroskip.hw.host import Host

    peer.memory[regmap.REG_ID] = regmap.fingerprint(TINY_ARCH) ^ 1
    transport = SerialTransport(peer.path, 115200, timeout_s=2)
    with pytest.raises(ZeroskipError, match="does not match architecture 'fpga-tiny'"):
        asyncio.run(Host(TINY_ARCH, transport.read, transport.write).check_id())
    transport.port.close()
