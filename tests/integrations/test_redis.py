"""Redis command metrics against a real redis-server started by the test."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import vigie
from support import free_port
from support.redis_server import RedisServer, running_redis
from vigie.exceptions import InstrumentationError
from vigie.integrations import redis as vigie_redis
from vigie.integrations import sqlalchemy as vigie_sqlalchemy
from vigie.integrations.redis import instrument_redis

redis = pytest.importorskip("redis")


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    """A throw-away redis-server on a free port."""
    with running_redis() as running:
        yield running


def _count(
    registry: CollectorRegistry, command: str, error: str = "", pool: str = "cache"
) -> float:
    value = registry.get_sample_value(
        "db_client_operation_duration_seconds_count",
        {
            "db_system_name": "redis",
            "pool_name": pool,
            "db_operation_name": command,
            "error_type": error,
        },
    )
    return value or 0.0


def test_commands_are_counted_by_name_and_status(
    server: RedisServer, registry: CollectorRegistry
) -> None:
    """SET/GET/INCR succeed; INCR on text and HGET on a string fail with ResponseError."""
    client = instrument_redis(redis.Redis(port=server.port), name="cache", registry=registry)
    client.set("user:alice@example.com", "secret-value")
    assert client.get("user:alice@example.com") == b"secret-value"
    client.set("counter", 1)
    client.incr("counter")
    client.incr("counter")
    with pytest.raises(redis.ResponseError):
        client.incr("user:alice@example.com")
    with pytest.raises(redis.ResponseError):
        client.hget("user:alice@example.com", "field")
    client.close()
    assert _count(registry, "SET") == 2
    assert _count(registry, "GET") == 1
    assert _count(registry, "INCRBY") + _count(registry, "INCR") == 2
    assert (
        _count(registry, "INCRBY", "ResponseError") + _count(registry, "INCR", "ResponseError") == 1
    )
    assert _count(registry, "HGET", "ResponseError") == 1
    exposition = generate_latest(registry).decode()
    assert "alice" not in exposition
    assert "secret-value" not in exposition


def test_pipelines_are_one_operation(server: RedisServer, registry: CollectorRegistry) -> None:
    """A transaction pipeline is one MULTI operation; a plain pipeline one PIPELINE."""
    client = instrument_redis(redis.Redis(port=server.port), name="cache", registry=registry)
    with client.pipeline() as pipe:
        pipe.set("a", 1).set("b", 2).get("a")
        assert pipe.execute() == [True, True, b"1"]
    with client.pipeline(transaction=False) as pipe:
        pipe.get("a").get("b")
        assert pipe.execute() == [b"1", b"2"]
    client.close()
    assert _count(registry, "MULTI") == 1
    assert _count(registry, "PIPELINE") == 1
    assert _count(registry, "SET") == 0  # queued commands are not counted one by one


def test_unreachable_server_counts_connection_errors(registry: CollectorRegistry) -> None:
    """A refused connection is recorded as ConnectionError and still raised."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    refused = redis.Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    client = instrument_redis(refused, registry=registry)
    with pytest.raises(redis.ConnectionError):
        client.get("k")
    pools = {
        sample.labels["pool_name"]
        for family in registry.collect()
        for sample in family.samples
        if sample.labels.get("error_type") == "ConnectionError"
    }
    (pool,) = pools
    assert re.fullmatch(r"localhost:\d+/0", pool)
    assert _count(registry, "GET", "ConnectionError", pool=pool) == 1


async def test_asyncio_client(server: RedisServer, registry: CollectorRegistry) -> None:
    """redis.asyncio clients are timed too, pipelines included."""
    import redis.asyncio as aioredis

    client = vigie.instrument_redis(
        aioredis.Redis(port=server.port), name="cache", registry=registry
    )
    await client.set("x", "1")
    assert await client.get("x") == b"1"
    async with client.pipeline() as pipe:
        pipe.incr("x").incr("x")
        assert await pipe.execute() == [2, 3]
    await client.aclose()
    assert _count(registry, "SET") == 1
    assert _count(registry, "GET") == 1
    assert _count(registry, "MULTI") == 1


def test_strange_command_names_collapse_to_other(
    server: RedisServer, registry: CollectorRegistry
) -> None:
    """A command name that is not a bare word is recorded as OTHER (bounded label values)."""
    client = instrument_redis(redis.Redis(port=server.port), name="cache", registry=registry)
    with pytest.raises(redis.ResponseError):
        client.execute_command("get{user-id-42}", "k")
    client.close()
    assert _count(registry, "OTHER", "ResponseError") == 1


def test_shares_the_operation_family_with_sqlalchemy(
    server: RedisServer, registry: CollectorRegistry
) -> None:
    """Redis and SQLAlchemy record into one family with the same labels and buckets."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    assert vigie_redis._BUCKETS == vigie_sqlalchemy.OPERATION_BUCKETS
    engine = vigie_sqlalchemy.instrument_sqlalchemy(
        sqlalchemy.create_engine("sqlite://"), name="db", registry=registry
    )
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT 1"))
    client = instrument_redis(redis.Redis(port=server.port), name="cache", registry=registry)
    client.ping()
    client.close()
    assert _count(registry, "PING") == 1


def test_instrumenting_twice_records_once(server: RedisServer, registry: CollectorRegistry) -> None:
    """A second instrument_redis call on the same client changes nothing."""
    client = instrument_redis(redis.Redis(port=server.port), name="cache", registry=registry)
    assert instrument_redis(client, name="cache", registry=registry) is client
    client.ping()
    client.close()
    assert _count(registry, "PING") == 1


def test_misuse_is_reported_at_once() -> None:
    """Not a client, a bad registry or an empty name raise InstrumentationError."""
    with pytest.raises(InstrumentationError, match="redis"):
        instrument_redis(object())
    with pytest.raises(InstrumentationError, match="registry"):
        instrument_redis(redis.Redis(), registry=object())  # type: ignore[arg-type]
    with pytest.raises(InstrumentationError, match="name"):
        instrument_redis(redis.Redis(), name="")
