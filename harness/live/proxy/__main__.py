"""``python -m harness.live.proxy``: start QEMU through the proxy server (harness.live.proxy.wrapper)."""

from __future__ import annotations

import sys

from harness.live.proxy.wrapper import main

sys.exit(main())
