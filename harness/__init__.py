"""vfiolab's harness: the passthrough checker, the config generator, scenarios and the CLI.

harness reads roots (a real ``/``, a rendered fake tree, a captured bug report) and decides;
it imports fakesys only in the scenario code, the CLI's ``fakesys`` subcommands, the pytest
plugin and the live device server.
"""

from __future__ import annotations

__version__ = "0.1.0"
