"""``lspci -t``/``-tv``/``-tvnn`` trees: which bridge each function sits behind, and bus ranges.

The drawing is pciutils' (``ls-tree.c``): ``-[0000:00]-`` opens a root bus, ``DD.F`` is a function
whose connector (``+-``, ``\\-`` or ``--``) starts two columns left of it, ``DD.F-[SS]-`` or
``DD.F-[SS-UU]-`` is a bridge whose children follow on the same line, and later lines continue a
bus at the column of its first connector (``|`` and spaces fill the columns to the left). With
``-v`` a name follows two spaces after a function; a name the paste wrapped sits on lines of its
own and is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.capture.model import TreeNode, UnparsedLine
from harness.capture.paste import PasteLine

_TOKEN = re.compile(
    r"\[(?:(?P<domain>[0-9a-fA-F]{4,8}):)?(?P<bus>[0-9a-fA-F]{2})(?:-(?P<last>[0-9a-fA-F]{2}))?\]"
    r"|(?P<dev>[0-9a-fA-F]{2})\.(?P<fn>[0-7])"
)
_TREE_START = re.compile(r"^(?:[ |]{0,400}[+\\]-|-\[|[+\\]-\[)")


@dataclass
class _Bus:
    domain: int
    number: int
    parent: str | None


def parse_tree(lines: list[PasteLine], unparsed: list[UnparsedLine]) -> list[TreeNode]:
    """Every function of the tree lines, in order."""
    nodes: list[TreeNode] = []
    columns: dict[int, _Bus] = {}
    for line in lines:
        text = line.text.rstrip()
        if not _TREE_START.match(text):
            continue  # a wrapped device name
        names_at = _names_start(text)
        drawing = text[:names_at]
        pending: _Bus | None = None
        last_device: str | None = None
        last_index: int | None = None
        for match in _TOKEN.finditer(drawing):
            if match["bus"] is not None:
                number = int(match["bus"], 16)
                if match["domain"] is not None:
                    pending = _Bus(int(match["domain"], 16), number, None)
                elif last_device is not None and last_index is not None:
                    domain = int(last_device[:4], 16)
                    pending = _Bus(domain, number, last_device)
                    last = int(match["last"], 16) if match["last"] else number
                    node = nodes[last_index]
                    nodes[last_index] = TreeNode(node.bdf, node.parent, node.line, number, last, node.name)
                continue
            connector = match.start() - 2
            bus = pending if pending is not None else columns.get(connector)
            if bus is None:
                unparsed.append(UnparsedLine(line.number, text, "tree row whose bus cannot be told"))
                break
            if pending is not None:
                columns[connector] = pending
                pending = None
            bdf = f"{bus.domain:04x}:{bus.number:02x}:{match['dev'].lower()}.{match['fn']}"
            name = text[names_at:].strip() if match.end() == names_at else ""
            nodes.append(TreeNode(bdf, bus.parent, line.number, name=name))
            last_device, last_index = bdf, len(nodes) - 1
    return nodes


def _names_start(text: str) -> int:
    """Where the ``-v`` names begin: two spaces after a drawn function."""
    for match in _TOKEN.finditer(text):
        if match["dev"] is not None and text[match.end() : match.end() + 2] == "  ":
            return match.end()
    return len(text)
