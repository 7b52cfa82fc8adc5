"""Write and check the record of packaged scenarios known to be valid (:mod:`fakesys.validity`).

Every scenario shipped in the package is loaded with the record switched off, so that each of
its documents (the scenario against ``scenario.schema.json`` and the guest schema, every host
part along its ``extends:`` chain against fakesys's ``host.schema.json``) is validated by
jsonschema; the digests validation accepted become the record::

    python -m harness.scenario.validity           rewrite fakesys/validated.json
    python -m harness.scenario.validity --check   exit 1 when the shipped record is not what
                                                  validating the packaged scenarios gives

``tests/test_validity_record.py`` runs the check, so the record never vouches for a document the
current schemas reject, and a packaged file edited without rewriting the record is simply
validated at run time again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from fakesys import validity
from fakesys.errors import FakesysError


def packaged_scenarios() -> list[Path]:
    """The scenario files shipped in the package (``harness._scenarios``)."""
    from harness.scenario.loader import packaged_scenario_dir

    return sorted(packaged_scenario_dir().glob("*.yaml"))


def record_file() -> Path:
    return Path(str(resources.files("fakesys").joinpath(validity.RECORD_FILE)))


def validated_digests(paths: Sequence[Path] | None = None) -> frozenset[str]:
    """The digests of every document validation accepts while the packaged scenarios load,
    each validated afresh (neither the record nor earlier validations count)."""
    from harness.scenario.loader import forget_parsed_files, load_scenario

    previous = validity.use_record
    validity.use_record = False
    validity.forget()
    forget_parsed_files()
    try:
        for path in packaged_scenarios() if paths is None else paths:
            load_scenario(str(path))
        return validity.validated_in_this_process()
    finally:
        validity.use_record = previous
        validity.forget()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.scenario.validity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare the shipped record with a fresh validation")
    args = parser.parse_args(argv)
    try:
        text = validity.record_text(validated_digests())
    except FakesysError as error:
        print(f"harness.scenario.validity: a packaged scenario does not load: {error}", file=sys.stderr)
        return 1
    path = record_file()
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if args.check:
        if current != text:
            print(f"harness.scenario.validity: {path.name} is stale; run python -m harness.scenario.validity")
            return 1
        return 0
    if current != text:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
