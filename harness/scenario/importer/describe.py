"""``vfiolab fakesys describe``: device descriptions from one file of ``lspci`` output.

The file is read like any text source of an import (every paste form, hex and decoded text in any
mix: :func:`harness.capture.parse_lspci`), and each device becomes the description an import
would write for it (:func:`harness.scenario.importer.devices.from_paste`): exact bytes from a
whole dump, header bytes from a 64-byte ``-x`` dump (capabilities from decoded text when the file
has it), numbers in hex, the file and device cited. A plain ``lspci -x`` style dump whose device
lines lspci would not print (no class name before a colon) is read with fakesys's strict dump
reader (:func:`fakesys.hw.hexdump.parse_hexdump`), and so is every file that is a dump in
lspci's own form and nothing else (:func:`fakesys.hw.hexdump.is_plain_dump`): a malformed row
there is an error naming file and line (exit 65), not a device of zeros. What the description
assumed is returned as remarks, for stderr.
"""

from __future__ import annotations

from fakesys.errors import HexDumpError
from fakesys.hw.hexdump import is_plain_dump, parse_hexdump
from harness.capture import ImportedDevice, parse_lspci
from harness.errors import PasteError, UsageError
from harness.pci.address import Bdf
from harness.scenario.errors import vfiolab_error
from harness.scenario.importer import devices
from harness.scenario.importer.model import DeviceFile
from harness.scenario.importer.sources import read_text


def description_name(vendor: int, device: int) -> str:
    """A library name from the IDs (``1b21-0612``): a name to save the file under."""
    return f"{vendor:04x}-{device:04x}"


def _record(description: dict[str, object], expected: bytes | None, bdf: str, source: str) -> DeviceFile:
    model = devices.encoded(description, source)
    return DeviceFile(description_name(model.vendor_id, model.device_id), description, [bdf], expected, {}, source)


def _from_paste(device: ImportedDevice, path: str, remarks: list[str]) -> str:
    source = f"{path}:{device.line}, device {device.bdf}: {device.title}"
    description, expected, state = devices.from_paste(device, [source])
    record = _record(description, expected, device.bdf, source)
    if expected is None:
        record.facts = [(fact.path, fact.value, fact.reader) for fact in device.facts if not fact.assumed]
    if state is not None:
        remarks.append(f"{device.bdf}: shown in {state}; described in D0 (a host entry says power: {state})")
    remarks.extend(str(assumption) for assumption in device.assumptions)
    remarks.extend(str(item) for item in device.disagreements)
    return _checked(record, remarks)


def _checked(record: DeviceFile, remarks: list[str]) -> str:
    text = devices.file_text(record, "vfiolab fakesys describe")
    remarks.extend(f"{record.functions[0]}: {problem}" for problem in devices.verify(record, text, record.facts))
    return text


def _strict(text: str, path: str, only: str | None, remarks: list[str]) -> list[str]:
    documents = []
    for item in parse_hexdump(text, path):
        if only is not None and item.bdf != only:
            continue
        source = f"{path}:{item.line}, device {item.bdf}: {item.title}"
        config, state = devices.at_rest(item.config)
        if state is not None:
            remarks.append(f"{item.bdf}: dumped in {state}; described in D0 (a host entry says power: {state})")
        description = devices.from_model(devices.model_from_bytes(config, title=item.title), [source], [])
        documents.append(_checked(_record(description, config, item.bdf, source), remarks))
    return documents


def describe_file(path: str, only: str | None = None) -> tuple[list[str], list[str]]:
    """The description texts of ``path``'s devices (or of the one at ``only``) and the remarks
    (assumptions, disagreements) to print beside them."""
    text = read_text(path)
    wanted = str(Bdf.parse(only)) if only is not None else None
    remarks: list[str] = []
    if is_plain_dump(text):
        # A dump in lspci's own form has no paste damage to undo: a short, broken or misplaced
        # row is an error at its line, not bytes the paste reader fills in with zeros.
        try:
            parse_hexdump(text, path)
        except HexDumpError as error:
            raise vfiolab_error(error) from None
    try:
        paste = parse_lspci(text, path)
    except PasteError as error:
        try:
            documents = _strict(text, path, wanted, remarks)
        except HexDumpError:
            raise error from None
    else:
        chosen = [device for device in paste.devices if wanted is None or device.bdf == wanted]
        documents = [_from_paste(device, path, remarks) for device in chosen]
    if not documents:
        raise UsageError(f"{path}: no device {only} in the file")
    return documents, remarks
