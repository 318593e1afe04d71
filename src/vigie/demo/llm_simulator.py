"""A local, deterministic LLM server speaking the OpenAI and Anthropic wire formats.

The demo app and vigie's own tests point the *real* ``openai`` and ``anthropic`` clients at it, so
every byte they parse is what the providers send: JSON bodies, server-sent-event streams, usage
blocks with cached and reasoning tokens, and error responses. Replies are scripted (a queue of
:class:`Reply` and :class:`Fault`, else a default reply), so tests can assert exact numbers.

Endpoints: ``POST /v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings`` (OpenAI) and
``/v1/messages`` (Anthropic), each streaming when the request says ``"stream": true``, and
``GET /v1/models`` (what a reachability probe asks). A ``responder`` (a callable from the request
body to a :class:`Reply` or :class:`Fault`) replaces the default reply when the queue is empty:
the demo uses it for answers that depend on the question, realistic latency and drills.

Only the standard library is used (a threaded ``http.server``), so it starts in milliseconds.

Example::

    from vigie.demo.llm_simulator import LLMSimulator, Reply, Fault
    import openai

    with LLMSimulator() as sim:
        client = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-test", max_retries=0)
        sim.enqueue(Reply(text="Bonjour", input_tokens=12, output_tokens=3, cached_tokens=4))
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        sim.enqueue(Fault(status=429, retry_after=2))   # the next call gets a rate limit
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["Fault", "LLMSimulator", "Reply", "ToolCall"]

_ERROR_KINDS = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_api_key", "authentication_error"),
    403: ("permission_denied", "permission_error"),
    404: ("not_found", "not_found_error"),
    429: ("rate_limit_exceeded", "rate_limit_error"),
    500: ("server_error", "api_error"),
    529: ("overloaded", "overloaded_error"),
}


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model asks for."""

    name: str
    arguments: str = "{}"
    id: str = "call_sim_1"


@dataclass(frozen=True)
class Reply:
    """A scripted successful answer.

    Token counts follow each provider's own convention on the wire: for OpenAI ``input_tokens``
    is ``prompt_tokens`` (including ``cached_tokens``), ``output_tokens`` is ``completion_tokens``
    (including ``reasoning_tokens``); for Anthropic ``input_tokens`` excludes
    ``cached_tokens`` (``cache_read_input_tokens``) and ``cache_creation_tokens``.
    ``chunks`` is how many content pieces a stream sends; ``chunk_delay`` and ``first_chunk_delay``
    (seconds) pace it; ``fail_after_chunks`` cuts a stream off midway with an error event.
    """

    text: str = "Hello from the vigie simulator."
    model: str | None = None
    input_tokens: int = 10
    output_tokens: int = 7
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    tool_calls: tuple[ToolCall, ...] = ()
    chunks: int = 3
    first_chunk_delay: float = 0.0
    chunk_delay: float = 0.0
    fail_after_chunks: int | None = None
    include_usage_in_stream: bool | None = None
    embedding_dimensions: int = 8


@dataclass(frozen=True)
class Fault:
    """A scripted failure: an HTTP error, a hang (client timeout) or a malformed body."""

    status: int = 500
    retry_after: float | None = None
    message: str = "simulated failure"
    hang: float = 0.0
    malformed: bool = False


@dataclass
class _Received:
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class LLMSimulator:
    """Run the simulated provider on ``127.0.0.1`` in a background thread."""

    def __init__(
        self,
        *,
        port: int = 0,
        default: Reply | None = None,
        responder: Callable[[dict[str, Any]], Reply | Fault] | None = None,
    ) -> None:
        self.default = default or Reply()
        self.responder = responder
        self.requests: list[_Received] = []
        self._script: deque[Reply | Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.Anthropic``."""
        return f"http://127.0.0.1:{self.port}"

    def enqueue(self, *items: Reply | Fault) -> None:
        """Script the next answers, in order; when the queue is empty the default reply is used."""
        with self._lock:
            self._script.extend(items)

    def next_item(self, body: dict[str, Any] | None = None) -> Reply | Fault:
        """Pop the next scripted item (used by the request handler).

        With an empty queue: the ``responder``'s answer to ``body`` when there is one, else the
        default reply. The responder runs outside the lock, so it may sleep (latency).
        """
        with self._lock:
            if self._script:
                return self._script.popleft()
        if self.responder is not None:
            return self.responder(body or {})
        return self.default

    def sleep(self, seconds: float) -> None:
        """Wait, but wake up at once when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def start(self) -> LLMSimulator:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
            name="vigie-llm-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LLMSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _handler_for(simulator: LLMSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        sim = simulator

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    sim: LLMSimulator

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and the demo do not want access logs on stderr."""

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/v1/models"):
            model = self.sim.default.model or "gpt-4o-mini"
            self._json(200, {"object": "list", "data": [
                {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "vigie"}
            ]})  # fmt: skip
        else:
            self._json(404, {"error": {"message": f"unknown path {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        self.sim.requests.append(
            _Received(self.path, body, {k.lower(): v for k, v in self.headers.items()})
        )
        anthropic = self.path.rstrip("/").endswith("/messages")
        item = self.sim.next_item(body if isinstance(body, dict) else {})
        try:
            if isinstance(item, Fault):
                self._fault(item, anthropic)
            elif self.path.endswith("/chat/completions"):
                self._answer(_chat(item, body), _chat_events(item, body), body)
            elif self.path.endswith("/responses"):
                self._answer(_response(item, body), _response_events(item, body), body)
            elif self.path.endswith("/embeddings"):
                self._json(200, _embeddings(item, body))
            elif anthropic:
                self._answer(_message(item, body), _message_events(item, body), body)
            else:
                self._json(404, {"error": {"message": f"unknown path {self.path}"}})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, fault: Fault, anthropic: bool) -> None:
        if fault.hang:
            self.sim.sleep(fault.hang)
            self.close_connection = True
            return
        if fault.malformed:
            data = b'{"id": "broken", "choices": [ this is not json'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        code, kind = _ERROR_KINDS.get(fault.status, ("error", "api_error"))
        headers = {}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        if anthropic:
            payload: dict[str, Any] = {
                "type": "error",
                "error": {"type": kind, "message": fault.message},
            }
        else:
            payload = {"error": {"message": fault.message, "type": kind, "code": code}}
        self._json(fault.status, payload, headers)

    def _answer(self, whole: dict[str, Any], events: Iterator[str], body: dict[str, Any]) -> None:
        if not body.get("stream"):
            self._json(200, whole)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for event in events:
            if event.startswith("sleep:"):
                self.sim.sleep(float(event[6:]))
                continue
            self.wfile.write(event.encode())


def _model(reply: Reply, body: dict[str, Any], fallback: str) -> str:
    return reply.model or str(body.get("model") or fallback)


def _pieces(text: str, count: int) -> list[str]:
    """Split ``text`` into ``count`` deterministic pieces (the last one takes the remainder)."""
    count = max(1, count)
    size = max(1, len(text) // count)
    pieces = [text[i * size : (i + 1) * size] for i in range(count - 1)]
    pieces.append(text[(count - 1) * size :])
    return pieces


def _sse(data: Any, event: str | None = None) -> str:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data)}\n\n"


def _paced(reply: Reply, index: int) -> Iterator[str]:
    delay = reply.first_chunk_delay if index == 0 else reply.chunk_delay
    if delay:
        yield f"sleep:{delay}"


# --- OpenAI chat completions ---------------------------------------------------------------------


def _openai_usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_calls_json(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in reply.tool_calls
    ]


def _chat(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if reply.tool_calls else reply.text,
    }
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls_json(reply)
    return {
        "id": "chatcmpl-sim",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": _model(reply, body, "gpt-4o-mini"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": _openai_usage(reply),
    }


def _chat_events(reply: Reply, body: dict[str, Any]) -> Iterator[str]:
    model = _model(reply, body, "gpt-4o-mini")
    base = {"id": "chatcmpl-sim", "object": "chat.completion.chunk", "created": 1_700_000_000}
    wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    if reply.include_usage_in_stream is not None:
        wants_usage = reply.include_usage_in_stream
    extra = {"usage": None} if wants_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _sse({**base, "model": model, "choices": [choice], **extra})

    if reply.tool_calls:
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None}]
        for index, call in enumerate(reply.tool_calls):
            deltas.append(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        }
                    ]
                }
            )
    else:
        deltas = [
            {"role": "assistant", "content": piece} for piece in _pieces(reply.text, reply.chunks)
        ]
    for index, delta in enumerate(deltas):
        yield from _paced(reply, index)
        if reply.fail_after_chunks is not None and index == reply.fail_after_chunks:
            yield _sse({"error": {"message": "stream interrupted", "type": "server_error"}})
            return
        yield chunk(delta)
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if wants_usage:
        yield _sse({**base, "model": model, "choices": [], "usage": _openai_usage(reply)})
    yield "data: [DONE]\n\n"


# --- OpenAI Responses API ------------------------------------------------------------------------


def _responses_usage(reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": reply.input_tokens,
        "input_tokens_details": {"cached_tokens": reply.cached_tokens},
        "output_tokens": reply.output_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }


def _response(reply: Reply, body: dict[str, Any], *, status: str = "completed") -> dict[str, Any]:
    output: list[dict[str, Any]]
    if reply.tool_calls:
        output = [
            {
                "type": "function_call",
                "id": f"fc_{call.id}",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
                "status": "completed",
            }
            for call in reply.tool_calls
        ]
    else:
        output = [
            {
                "type": "message",
                "id": "msg_sim",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
        ]
    return {
        "id": "resp_sim",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": status,
        "model": _model(reply, body, "gpt-4o-mini"),
        "output": output if status == "completed" else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": _responses_usage(reply) if status == "completed" else None,
    }


def _response_events(reply: Reply, body: dict[str, Any]) -> Iterator[str]:
    sequence = iter(range(10_000))
    started = _response(reply, body, status="in_progress")
    yield _sse({"type": "response.created", "sequence_number": next(sequence), "response": started})
    for index, piece in enumerate(_pieces(reply.text, reply.chunks)):
        yield from _paced(reply, index)
        if reply.fail_after_chunks is not None and index == reply.fail_after_chunks:
            yield _sse(
                {"type": "error", "sequence_number": next(sequence), "code": "server_error",
                 "message": "stream interrupted", "param": None},
            )  # fmt: skip
            return
        yield _sse(
            {
                "type": "response.output_text.delta",
                "sequence_number": next(sequence),
                "item_id": "msg_sim",
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
            }
        )
    done = _response(reply, body)
    yield _sse({"type": "response.completed", "sequence_number": next(sequence), "response": done})


# --- OpenAI embeddings ---------------------------------------------------------------------------


def _embeddings(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": [
                round((index + 1) / (d + 2), 6) for d in range(reply.embedding_dimensions)
            ],
        }
        for index in range(len(items))
    ]
    return {
        "object": "list",
        "data": data,
        "model": _model(reply, body, "text-embedding-3-small"),
        "usage": {"prompt_tokens": reply.input_tokens, "total_tokens": reply.input_tokens},
    }


# --- Anthropic messages --------------------------------------------------------------------------


def _anthropic_usage(reply: Reply, *, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": reply.input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "cache_creation_input_tokens": reply.cache_creation_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": reply.cache_creation_tokens
            - reply.cache_creation_1h_tokens,
            "ephemeral_1h_input_tokens": reply.cache_creation_1h_tokens,
        },
        "service_tier": "standard",
    }


def _message(
    reply: Reply, body: dict[str, Any], *, output_tokens: int | None = None
) -> dict[str, Any]:
    content: list[dict[str, Any]] = [
        {
            "type": "tool_use",
            "id": f"toolu_{call.id}",
            "name": call.name,
            "input": json.loads(call.arguments),
        }
        for call in reply.tool_calls
    ] or [{"type": "text", "text": reply.text}]
    return {
        "id": "msg_sim",
        "type": "message",
        "role": "assistant",
        "model": _model(reply, body, "claude-sonnet-4-20250514"),
        "content": content,
        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(
            reply, output_tokens=reply.output_tokens if output_tokens is None else output_tokens
        ),
    }


def _message_events(reply: Reply, body: dict[str, Any]) -> Iterator[str]:
    start = _message(reply, body, output_tokens=1)
    start["content"] = []
    start["stop_reason"] = None
    yield _sse({"type": "message_start", "message": start}, "message_start")
    block = {"type": "text", "text": ""}
    yield _sse(
        {"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"
    )
    for index, piece in enumerate(_pieces(reply.text, reply.chunks)):
        yield from _paced(reply, index)
        if reply.fail_after_chunks is not None and index == reply.fail_after_chunks:
            error = {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            }
            yield _sse(error, "error")
            return
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": piece},
        }
        yield _sse(delta, "content_block_delta")
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    yield _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": reply.output_tokens},
        },
        "message_delta",
    )
    yield _sse({"type": "message_stop"}, "message_stop")
