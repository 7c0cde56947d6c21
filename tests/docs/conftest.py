"""Show which documentation code blocks were skipped, and why, at the end of the test run."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    notes = [
        value
        for report in terminalreporter.getreports("passed")
        for key, value in getattr(report, "user_properties", [])
        if key == "docs-test"
    ]
    if notes:
        terminalreporter.section("documentation code blocks not run")
        for note in notes:
            terminalreporter.line(str(note))
