"""The serial transport under ``zeroskip.hw.host.Host``: the host driver's ``read``/``write``
coroutines carried over a UART (pyserial) in ``zeroskip.hw.link``'s frames.

Writes are gathered: consecutive word addresses become one burst, sent when the next write
breaks the run, at a read, or at ``flush()``; so a bus error of a write surfaces at the next
read at the latest. Every wait has a timeout: a silent device, a wrong baud rate or a
corrupted answer is a ``LinkError`` with one line, never a hang.
"""

from __future__ import annotations

from zeroskip.errors import ZeroskipError
from zeroskip.hw import link

#: seconds to wait for an answer's bytes (a 256-word read at 9600 baud takes about 1.1 s)
DEFAULT_TIMEOUT_S = 5.0


class LinkError(ZeroskipError):
    """The serial link failed: no device, no answer, a corrupted or refused frame."""


class SerialTransport:
    """One serial port to a board's UART bridge; ``read``/``write`` for ``Host``."""

    def __init__(self, port: str, baud: float, timeout_s: float = DEFAULT_TIMEOUT_S):
        try:
            import serial
        except ImportError:
            raise LinkError("pyserial is not installed: pip install -e '.[board]'") from None
        self.port_name = port
        self.timeout_s = timeout_s
        try:
            self.port = serial.Serial(port, int(baud), timeout=timeout_s, write_timeout=timeout_s)
        except (serial.SerialException, OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or str(error).split(":")[-1].strip() or error
            raise LinkError(f"--port {port}: cannot open it ({reason})") from None
        self.port.reset_input_buffer()
        self._pending_address = None
        self._pending: list[int] = []
        self.frames = 0           #: requests sent (benchmarks report them)

    # -- Host's interface ----------------------------------------------------------------------
    async def write(self, address: int, data: int) -> None:
        if (self._pending and address == self._pending_address + len(self._pending)
                and len(self._pending) < link.MAX_BURST):
            self._pending.append(data)
            return
        self.flush()
        self._pending_address, self._pending = address, [data]

    async def read(self, address: int) -> int:
        return self.read_burst(address, 1)[0]

    # -- bursts ----------------------------------------------------------------------------------
    def flush(self) -> None:
        """Send the gathered writes and check their acknowledgement."""
        if self._pending:
            address, words = self._pending_address, self._pending
            self._pending_address, self._pending = None, []
            self._transact(link.write_request(address, words), link.ACK_WRITE, 0,
                           f"writing {len(words)} words at {address:#x}")

    def read_burst(self, address: int, words: int) -> list[int]:
        self.flush()
        return link.words_of(self._transact(link.read_request(address, words), link.ACK_READ,
                                            words, f"reading {words} words at {address:#x}"))

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.port.close()

    def _receive(self, count: int, what: str) -> bytes:
        data = self.port.read(count)
        if len(data) < count:
            got = f"{len(data)} of {count} bytes" if data else "nothing"
            raise LinkError(f"--port {self.port_name}: no answer {what} within {self.timeout_s:g} s "
                            f"(got {got}): is the bitstream loaded and the baud rate right?")
        return data

    def _transact(self, request: bytes, expected: int, words: int, what: str) -> bytes:
        import serial

        try:
            self.port.write(request)
            self.frames += 1
            status = self._receive(1, what)[0]
            if status != expected:
                if status in (link.NAK_CHECKSUM, link.NAK_COMMAND):
                    self._receive(1, what)
                    reason = link.STATUS_NAMES[status]
                else:
                    reason = f"corrupted frame from the device (status byte {status:#04x})"
                self._resync()
                raise LinkError(f"--port {self.port_name}: {what}: {reason}")
            rest = self._receive(link.answer_bytes(status, words) - 1, what)
        except serial.SerialException as error:
            raise LinkError(f"--port {self.port_name}: {what}: {error}") from None
        answer = bytes([status]) + rest
        if link.crc8(answer[:-1]) != answer[-1]:
            self._resync()
            raise LinkError(f"--port {self.port_name}: {what}: corrupted frame from the device "
                            "(checksum)")
        return answer[1:-1]

    def _resync(self) -> None:
        """Drop whatever else the device sends after an error (the next request starts clean)."""
        timeout = self.port.timeout
        self.port.timeout = 0.2
        try:
            while self.port.read(4096):
                pass
        finally:
            self.port.timeout = timeout
