"""Shared pytest options: ``--regen-golden`` rewrites the golden files instead of comparing."""

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*.txt from the current output instead of comparing",
    )


@pytest.fixture
def regen_golden(request) -> bool:
    return request.config.getoption("--regen-golden")
