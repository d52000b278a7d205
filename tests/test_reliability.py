"""The bad-input catalogue in docs/reliability.md is what the code does today, and every entry is typed."""

from __future__ import annotations

import importlib.util
import re
import sys

from tests.airflow_harness import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("reliability", ROOT / "scripts" / "reliability.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["reliability"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_bad_input_is_a_typed_short_error_and_the_published_catalogue_is_current(monkeypatch):
    reliability = _script()
    rows = reliability.catalogue()
    assert len(rows) >= 40
    for kind, _, error, text in rows:
        assert error.startswith("Amt") and error.endswith("Error"), (kind, error, text)
        assert len(text) <= 150
    published = (ROOT / "docs" / "reliability.md").read_text()
    section = re.search(r"<!-- catalogue:start -->\n(.*?)\n<!-- catalogue:end -->", published, re.S)
    assert section is not None
    assert section.group(1) == reliability.catalogue_table(rows), "run `make faults` to refresh docs/reliability.md"
