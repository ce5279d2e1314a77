"""A real Spark Connect session for tests: Sail's server (no JVM) on a free loopback port.

Import the fixture into a test module (``from tests.spark import spark_session  # noqa: F401``);
it starts once per test session, in about a second, and is stopped at the end. A test module
that needs it is skipped, not failed, where pysail or pyspark-client is not installed (they are
the ``spark`` extra, which ``test`` includes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """A SparkSession on a background Sail server, session time zone UTC like the warehouse."""
    sail = pytest.importorskip("pysail.spark")
    sql = pytest.importorskip("pyspark.sql")
    server = sail.SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    try:
        host, port = server.listening_address
        session = (
            sql.SparkSession.builder.remote(f"sc://{host}:{port}")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        try:
            yield session
        finally:
            session.stop()
    finally:
        server.stop()
