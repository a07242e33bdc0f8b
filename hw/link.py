"""The serial link's framing: how the host reaches the accelerator's Wishbone bus over a UART.

One definition for the gateware bridge (``zeroskip.hw.gateware.uart``) and the host transport
(``zeroskip.hw.transport``); pure Python, no Amaranth and no pyserial here. docs/board.md
describes the protocol for people.

A request is one frame, bytes in this order::

    command (1) | words - 1 (1) | word address (4, little-endian) | data (4 per word, writes) | crc (1)

``command`` is ``CMD_WRITE`` or ``CMD_READ``; a burst moves 1 to ``MAX_BURST`` words at
consecutive word addresses. The answer is::

    status (1) | data (4 per word, reads answered with ``ACK_READ``) | crc (1)

``crc`` is CRC-8 (polynomial ``CRC_POLY``, initial value 0, no reflection: CRC-8/SMBUS) of every
byte before it in the same frame. A write burst is buffered and reaches the bus only once its
checksum has checked out; a bad checksum answers ``NAK_CHECKSUM``, an unknown command byte
``NAK_COMMAND`` (no payload). A request left unfinished for ``FRAME_TIMEOUT_BYTES`` byte times
is dropped, so a host that died mid-frame never wedges the bridge.
"""

from __future__ import annotations

CMD_WRITE = 0x01
CMD_READ = 0x02
ACK_WRITE = 0x81            #: CMD_WRITE | 0x80: the burst was written
ACK_READ = 0x82             #: CMD_READ | 0x80: the words follow
NAK_CHECKSUM = 0xE1         #: the request's crc did not match: nothing was written
NAK_COMMAND = 0xE2          #: the first byte was not a command
STATUS_NAMES = {ACK_WRITE: "write acknowledged", ACK_READ: "read acknowledged",
                NAK_CHECKSUM: "the device saw a corrupted request (checksum)",
                NAK_COMMAND: "the device saw an unknown command"}

MAX_BURST = 256             #: words per burst (the count byte holds words - 1)
WORD_BYTES = 4
ADDRESS_BYTES = 4
HEADER_BYTES = 2 + ADDRESS_BYTES
CRC_POLY = 0x07
FRAME_TIMEOUT_BYTES = 256   #: a request stalled this many byte times is dropped
BITS_PER_BYTE = 10          #: 8N1: start, 8 data bits (least significant first), stop
MIN_CLOCKS_PER_BIT = 4      #: the receiver samples mid-bit after a two-flop synchroniser


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8/SMBUS of ``data`` continuing from ``crc`` (the bridge computes it a byte at a time)."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _sealed(body: bytes) -> bytes:
    return body + bytes([crc8(body)])


def _check_burst(address: int, words: int) -> None:
    if not 1 <= words <= MAX_BURST:
        raise ValueError(f"a burst moves 1..{MAX_BURST} words, not {words}")
    if not 0 <= address < 1 << (8 * ADDRESS_BYTES):
        raise ValueError(f"word address {address:#x} out of range")


def write_request(address: int, data: list[int]) -> bytes:
    """The frame writing ``data`` (32-bit words) from word ``address`` on."""
    _check_burst(address, len(data))
    body = bytes([CMD_WRITE, len(data) - 1]) + address.to_bytes(ADDRESS_BYTES, "little")
    body += b"".join((int(w) & 0xFFFFFFFF).to_bytes(WORD_BYTES, "little") for w in data)
    return _sealed(body)


def read_request(address: int, words: int) -> bytes:
    """The frame reading ``words`` words from word ``address`` on."""
    _check_burst(address, words)
    return _sealed(bytes([CMD_READ, words - 1]) + address.to_bytes(ADDRESS_BYTES, "little"))


def answer_bytes(status: int, words: int) -> int:
    """Length of the answer that starts with ``status`` to a request of ``words`` words."""
    return 2 + (WORD_BYTES * words if status == ACK_READ else 0)


def words_of(payload: bytes) -> list[int]:
    return [int.from_bytes(payload[i:i + WORD_BYTES], "little")
            for i in range(0, len(payload), WORD_BYTES)]


def clocks_per_bit(clock_hz: float, baud: float) -> int:
    """The UART's divisor: clock cycles per bit, refused when too small or too far from ``baud``
    (more than 2 % off, beyond what 8N1 tolerates over a byte)."""
    if baud <= 0:
        raise ValueError(f"baud rate must be positive, got {baud:g}")
    divisor = round(clock_hz / baud)
    if divisor < MIN_CLOCKS_PER_BIT:
        raise ValueError(f"{baud:g} baud at {clock_hz / 1e6:g} MHz is {clock_hz / baud:.2f} "
                         f"clocks per bit; the UART needs at least {MIN_CLOCKS_PER_BIT}")
    if abs(clock_hz / divisor - baud) > 0.02 * baud:
        raise ValueError(f"{baud:g} baud is not reachable at {clock_hz / 1e6:g} MHz "
                         f"(nearest {clock_hz / divisor:.0f})")
    return divisor
