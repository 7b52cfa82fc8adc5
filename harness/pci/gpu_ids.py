"""PCI IDs of display devices that passthrough tooling keys on, shared by the checker and by
fakesys's model of the module that uses them.

``VENDOR_RESET_DEVICES``: the AMD GPUs gnif/vendor-reset's device table lists
(github.com/gnif/vendor-reset src/device-db.h, commit 03e525d31ed2): Polaris 10/11/12, Vega
10/20, Navi 10/12/14, Navi 23 and Arcturus, by family. These are the GPUs with the AMD "reset
bug" the module exists for: no FLR, and a bus reset that leaves the GPU's SMU/PSP firmware
running, so a guest driver cannot initialise the GPU a second time.
"""

from __future__ import annotations

VENDOR_ATI = 0x1002

VENDOR_RESET_FAMILIES: dict[str, tuple[int, ...]] = {
    "Polaris 10": (
        *(0x67C0, 0x67C1, 0x67C2, 0x67C4, 0x67C7, 0x67D0, 0x67DF),
        *(0x67C8, 0x67C9, 0x67CA, 0x67CC, 0x67CF, 0x6FDF),
    ),
    "Polaris 11": (0x67E0, 0x67E3, 0x67E8, 0x67EB, 0x67EF, 0x67FF, 0x67E1, 0x67E7, 0x67E9),
    "Polaris 12": (0x6980, 0x6981, 0x6985, 0x6986, 0x6987, 0x6995, 0x6997, 0x699F),
    "Vega 10": (
        *(0x6860, 0x6861, 0x6862, 0x6863, 0x6864, 0x6867, 0x6868, 0x6869),
        *(0x686A, 0x686B, 0x686C, 0x686D, 0x686E, 0x686F, 0x687F),
    ),
    "Vega 20": (0x66A0, 0x66A1, 0x66A2, 0x66A3, 0x66A4, 0x66A7, 0x66AF, 0x164C),
    "Navi 10": (
        *(0x7310, 0x7312, 0x7318, 0x7319, 0x731A, 0x731B, 0x731E, 0x731F),
        *(0x15BF, 0x15DD, 0x15DE, 0x15E7, 0x1636, 0x1638),
    ),
    "Navi 14": (0x7340, 0x7341, 0x7347, 0x734F),
    "Navi 12": (0x7360, 0x7362),
    "Navi 23": (0x73FF,),
    "Arcturus": (0x738C,),
}

#: The families of the AMD reset bug proper: the ones vendor-reset was written for, each with its
#: own reset strategy (its README: POLARIS10, VEGA10, VEGA20, NAVI10; Navi 12/14 use the Navi 10
#: one). Navi 23 and Arcturus are later additions to the table and are not counted here.
RESET_BUG_FAMILIES = frozenset(
    {"Polaris 10", "Polaris 11", "Polaris 12", "Vega 10", "Vega 20", "Navi 10", "Navi 12", "Navi 14"}
)

#: (vendor, device) -> the family name vendor-reset's table gives it (the first one listed,
#: as the module's lookup takes the first match).
VENDOR_RESET_DEVICES: dict[tuple[int, int], str] = {}
for _family, _devices in VENDOR_RESET_FAMILIES.items():
    for _device in _devices:
        VENDOR_RESET_DEVICES.setdefault((VENDOR_ATI, _device), _family)
