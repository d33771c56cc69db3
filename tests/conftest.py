from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.pgserver import PgServer, pg  # noqa: F401 - a fixture for every test module

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not beside this checkout")
    return REALDATA


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--ledger-backend", choices=["sqlite", "postgresql"], default="sqlite",
                     help="Where the tests' ledgers are: SQLite files (the default), or "
                          "schemas of a private PostgreSQL server started for the run.")


@pytest.fixture(scope="session", autouse=True)
def ledger_route(request: pytest.FixtureRequest) -> Iterator[str]:
    """Under --ledger-backend=postgresql, every ledger the tests open by path in this
    process (module fixtures' too) is a schema of its own on the private server, named
    after the path. Child processes keep their SQLite files: tests that run bridge in
    one are marked sqlite_only."""
    backend = str(request.config.getoption("--ledger-backend"))
    if backend != "postgresql":
        yield backend
        return
    import bridge.ledger

    server: PgServer = request.getfixturevalue("pg")

    def route(where: Path | str) -> Path | str:
        if bridge.ledger.is_url(where):
            return where
        return server.new_schema(str(Path(where).resolve()))

    bridge.ledger.ROUTE = route
    try:
        yield backend
    finally:
        bridge.ledger.ROUTE = None


@pytest.fixture(autouse=True)
def sqlite_only(request: pytest.FixtureRequest, ledger_route: str) -> None:
    if ledger_route == "postgresql" and request.node.get_closest_marker("sqlite_only"):
        pytest.skip("about SQLite ledger files, or bridge in a child process")
