"""Shared test fixtures."""

import sys

import pytest


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's AppTest runs app.py as `__main__` and leaves it there; worker processes started
    later (Dask's nannies, process pools, by spawn) would then re-import the app and die. Put the
    real `__main__` back after every test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main
