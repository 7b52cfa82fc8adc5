"""Option ROM images for device models: built from a short description, described back.

A real ROM is mostly vendor code nobody should copy; what passthrough tooling looks at is the
image header, the PCI Data Structure (PCIR) and the length. A description therefore gives the
leading bytes that matter (as hex), the image length, the byte that fills the rest, and whether
the final byte is set so that the image sums to zero (the legacy ROM checksum rule).
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.pci.rom import MAX_ROM_SIZE

ROM_SIGNATURE = b"\x55\xaa"
PCIR_SIGNATURE = b"PCIR"
IMAGE_BLOCK = 512


def declared_length(head: bytes) -> int | None:
    """Image length from the PCIR structure (+0x10, in 512-byte units), else None."""
    if len(head) < 0x1A or head[:2] != ROM_SIGNATURE:
        return None
    pcir = int.from_bytes(head[0x18:0x1A], "little")
    if pcir + 0x12 > len(head) or head[pcir : pcir + 4] != PCIR_SIGNATURE:
        return None
    return int.from_bytes(head[pcir + 0x10 : pcir + 0x12], "little") * IMAGE_BLOCK


def build_image(spec: object, rom_bar_size: int) -> bytes:
    """Bytes of the image described by ``spec`` ({hex, length, fill, checksum})."""
    if not isinstance(spec, Mapping):
        raise ValueError("expected {hex: '55 aa ...', length: N, fill: 0, checksum: true}")
    unknown = set(spec) - {"hex", "length", "fill", "checksum"}
    if unknown:
        raise ValueError(f"unknown image key {sorted(unknown)[0]!r}; allowed: hex, length, fill, checksum")
    try:
        head = bytes.fromhex(" ".join(str(spec.get("hex", "")).split()))
    except ValueError:
        raise ValueError("image.hex must be hex bytes like '55 aa 4a'") from None
    length = spec.get("length", declared_length(head) or len(head))
    if not isinstance(length, int) or length < len(head):
        raise ValueError(f"image.length must be an integer of at least {len(head)} (the hex given)")
    if length > rom_bar_size:
        raise ValueError(f"image.length {length} exceeds the ROM BAR size {rom_bar_size}")
    if length > MAX_ROM_SIZE:
        raise ValueError(f"image.length {length} exceeds {MAX_ROM_SIZE}, the largest option ROM")
    fill = spec.get("fill", 0)
    if not isinstance(fill, int) or not 0 <= fill <= 0xFF:
        raise ValueError("image.fill must be a byte value 0..255")
    image = bytearray(head + bytes([fill]) * (length - len(head)))
    if spec.get("checksum", False):
        if length <= len(head):
            raise ValueError("image.checksum needs at least one fill byte after the hex to adjust")
        image[-1] = (-sum(image[:-1])) & 0xFF
    return bytes(image)


def describe_image(image: bytes) -> dict[str, object]:
    """The shortest description that :func:`build_image` turns back into ``image``."""
    fill = 0xFF if image.endswith(b"\xff\xff") else 0x00
    checksum = len(image) > 1 and sum(image) % 256 == 0 and image[-1] != fill
    body = image[:-1] if checksum else image
    end = len(body)
    while end and body[end - 1] == fill:
        end -= 1
    described: dict[str, object] = {"hex": image[:end].hex(" "), "length": len(image), "fill": fill}
    if checksum:
        described["checksum"] = True
    if build_image(described, len(image)) != image:
        described = {"hex": image.hex(" "), "length": len(image)}
    return described
