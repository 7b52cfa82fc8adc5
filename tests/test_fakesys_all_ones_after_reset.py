"""The ``all_ones_after_reset`` behaviour: a function that stops answering after the resets it
does not survive (its link stays up) and comes back only after the resets it does."""

from __future__ import annotations

import pytest

from fakesys.hw.behaviour import BehaviourError, make_behaviour
from fakesys.hw.device import Device, ResetKind
from fakesys.hw.library import load_device
from fakesys.hw.link import train

ALL_ONES = 0xFFFFFFFF


def _device(**params: object) -> Device:
    return Device(
        load_device("asmedia-asm1062"), behaviours=[make_behaviour({"name": "all_ones_after_reset", **params})]
    )


def test_flr_leaves_config_all_ones_until_a_power_cycle_by_default() -> None:
    device = _device()
    assert device.read(0x00, 4) != ALL_ONES
    device.reset(ResetKind.SECONDARY_BUS)  # not one of the resets it dies of
    assert device.read(0x00, 4) != ALL_ONES
    device.reset(ResetKind.FLR)
    assert device.read(0x00, 4) == ALL_ONES
    device.reset(ResetKind.SECONDARY_BUS)  # nor one that brings it back
    assert device.read(0x00, 4) == ALL_ONES
    device.power_cycle()
    assert device.read(0x00, 4) == 0x06121B21


def test_a_secondary_bus_reset_brings_it_back_when_it_recovers_from_one() -> None:
    device = _device(after=["flr"], recovered_by=["secondary_bus", "power_cycle"])
    device.reset(ResetKind.FLR)
    assert device.read(0x04, 4) == ALL_ONES
    device.reset(ResetKind.SECONDARY_BUS)
    assert device.read(0x00, 4) == 0x06121B21


def test_its_link_still_trains_while_it_does_not_answer() -> None:
    port = Device(load_device("qemu-pcie-root-port-5gt-x1"))
    device = _device(after=["flr"])
    port.downstream.append(device)
    device.reset(ResetKind.FLR)
    assert device.read(0x00, 4) == ALL_ONES
    assert train(port)


@pytest.mark.parametrize("params", [{"after": "flr"}, {"recovered_by": ["reboot"]}, {"until": ["flr"]}])
def test_bad_parameters_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(BehaviourError):
        make_behaviour({"name": "all_ones_after_reset", **params})
