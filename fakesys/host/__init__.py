"""The host description format (fakesys.host): its JSON Schema, typed records and loader."""

from __future__ import annotations
