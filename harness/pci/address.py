"""PCI addresses (domain:bus:device.function), parsed leniently and printed in full.

Input accepts ``03:00.0`` and ``0000:03:00.0`` in any case; output is always the full
lowercase form the kernel uses in sysfs names.
"""

from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

_BDF = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{4,5}):)?(?P<bus>[0-9a-fA-F]{2}):(?P<device>[0-9a-fA-F]{2})\.(?P<function>[0-7])$"
)


class Bdf(NamedTuple):
    domain: int
    bus: int
    device: int
    function: int

    @classmethod
    def parse(cls, text: str) -> Bdf:
        match = _BDF.match(text.strip())
        if match is None or int(match["device"], 16) > 0x1F:
            raise ValueError(f"{text!r} is not a PCI address; expected e.g. 0000:03:00.0 or 03:00.0")
        return cls(
            int(match["domain"] or "0", 16),
            int(match["bus"], 16),
            int(match["device"], 16),
            int(match["function"]),
        )

    @property
    def devfn(self) -> int:
        return self.device << 3 | self.function

    @property
    def slot(self) -> tuple[int, int, int]:
        return self.domain, self.bus, self.device

    @property
    def bus_name(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}"

    @property
    def short(self) -> str:
        return _short(self.bus, self.device, self.function)

    def __str__(self) -> str:
        return _full(self.domain, self.bus, self.device, self.function)


# A check of a large host prints the same few thousand addresses tens of thousands of times.
@cache
def _full(domain: int, bus: int, device: int, function: int) -> str:
    return f"{domain:04x}:{bus:02x}:{device:02x}.{function}"


@cache
def _short(bus: int, device: int, function: int) -> str:
    return f"{bus:02x}:{device:02x}.{function}"
