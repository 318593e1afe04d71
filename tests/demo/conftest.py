"""Fixtures of the demo tests: the FAQ app under a real uvicorn, its LLM simulator beside it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from support import free_port
from vigie.demo.faq_app import FaqService, FaqSettings, create_faq_app
from vigie.demo.llm_backend import SimulatedBehaviour
from vigie.demo.llm_simulator import LLMSimulator
from vigie.sdk.health import HealthRegistry


@dataclass
class Served:
    """A running FAQ app: its URL, a client, its service, registry and LLM behaviour."""

    url: str
    http: httpx.Client
    service: FaqService
    registry: CollectorRegistry
    behaviour: SimulatedBehaviour

    def drill(self, name: str, active: bool) -> httpx.Response:
        """Switch a drill with the app's token."""
        return self.http.post(
            f"/_drill/{name}",
            json={"active": active},
            headers={"Authorization": f"Bearer {self.service.drills.token}"},
        )

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The value of one sample as ``/metrics`` serves it (0 when absent)."""
        text = self.http.get("/metrics").text
        wanted = labels or {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in wanted.items()
                ):
                    return float(sample.value)
        return 0.0


@contextmanager
def serve_faq(settings: FaqSettings | None = None, **behaviour: object) -> Iterator[Served]:
    """Serve the FAQ app on a free port, with a fast, error-free simulated LLM by default."""
    options: dict[str, object] = {"latency": (0.005, 0.01), "error_rate": 0.0, "seed": 1}
    options.update(behaviour)
    simulated = SimulatedBehaviour(**options)  # type: ignore[arg-type]
    registry = CollectorRegistry()
    with LLMSimulator(responder=simulated) as simulator:
        settings = settings or FaqSettings(seed=5, password="open-sesame")
        settings.llm_base_url = simulator.openai_base_url
        app = create_faq_app(
            settings,
            registry=registry,
            health=HealthRegistry(registry=registry),
            behaviour=simulated,
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, timeout=20) as http:
                yield Served(url, http, app.state.faq, registry, simulated)
        finally:
            server.should_exit = True
            thread.join(15)


@pytest.fixture
def faq_server() -> Callable[..., AbstractContextManager[Served]]:
    """``with faq_server(settings, **behaviour) as served:`` runs a FAQ app for one test."""
    return serve_faq


@pytest.fixture
def served() -> Iterator[Served]:
    """The FAQ app with its fast, error-free simulated LLM, torn down after the test."""
    with serve_faq() as running:
        yield running
