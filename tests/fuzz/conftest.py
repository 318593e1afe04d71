"""Fuzzing support: a per-input time bound, a memory bound, and the count of inputs per target.

Every fuzz test calls ``fuzz.check(target, function, *args)``: the call must return or raise one of
the allowed typed errors, within ``PER_INPUT_SECONDS``. The number of inputs tried per target is
printed at the end of the run (``inputs tried per fuzz target``), with or without ``-s``.
``VIGIE_FUZZ_EXAMPLES`` (default 300) sets the examples per test; the run is derandomized.
"""

from __future__ import annotations

import resource
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vigie.exceptions import VigieError

#: Generous: two shared cores; a parser that takes this long on a small input has a problem.
PER_INPUT_SECONDS = 5.0
#: Peak resident memory may grow this much during one fuzz test.
MEMORY_GROWTH_BYTES = 512 << 20

COUNTS: Counter[str] = Counter()
#: Known bugs hit (tolerated so the rest of the target keeps being fuzzed; each has a strict
#: regression test in test_parser_regressions.py once fixed).
FINDINGS: Counter[str] = Counter()


class Fuzz:
    """Runs one input through a parser with the time bound; counts it."""

    def check(
        self,
        target: str,
        function: Callable[..., Any],
        *args: Any,
        allowed: tuple[type[BaseException], ...] = (VigieError,),
        known: tuple[tuple[type[BaseException], str], ...] = (),
        **kwargs: Any,
    ) -> Any:
        """``known``: (exception type, source file of the raising frame under src/vigie)."""
        COUNTS[target] += 1
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        except allowed as error:
            return error
        except Exception as error:
            frames = [f.filename for f in traceback.extract_tb(error.__traceback__)]
            ours = [name for name in frames if "/src/vigie/" in name]
            for kind, source in known:
                if isinstance(error, kind) and ours and ours[-1].endswith(source):
                    FINDINGS[f"{target}: {kind.__name__} in {source}"] += 1
                    return error
            raise
        finally:
            elapsed = time.perf_counter() - start
            assert elapsed < PER_INPUT_SECONDS, f"{target}: {elapsed:.1f}s on {args!r:.300}"


@pytest.fixture(scope="session")
def fuzz() -> Fuzz:
    return Fuzz()


@pytest.fixture(autouse=True)
def _bounded_memory() -> Iterator[None]:
    """Fail a fuzz test whose inputs made the process grow by more than the bound."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    yield
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert after - before < MEMORY_GROWTH_BYTES, f"peak memory grew by {after - before} bytes"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS:
        return
    terminalreporter.section("inputs tried per fuzz target")
    for target, count in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{target:<40} {count:>8}")
    terminalreporter.write_line(f"{'total':<40} {sum(COUNTS.values()):>8}")
    for finding, count in sorted(FINDINGS.items()):
        terminalreporter.write_line(f"known bug hit {count} times: {finding}")
