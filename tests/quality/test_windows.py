"""Reference and current windows."""

from __future__ import annotations

from vigie.quality.windows import ReferenceSpec, Window, WindowSettings


def test_trailing_reference_ends_where_current_starts() -> None:
    """The default reference is the day before the current hour."""
    settings = WindowSettings()
    assert settings.current(100_000.0) == Window(96_400.0, 100_000.0)
    assert settings.reference(ReferenceSpec(), 100_000.0) == Window(10_000.0, 96_400.0)


def test_fixed_reference_is_the_marked_period() -> None:
    """A fixed reference is its own period whatever the time now."""
    spec = ReferenceSpec("fixed", 10.0, 20.0)
    assert WindowSettings().reference(spec, 1e9) == Window(10.0, 20.0)
    assert ReferenceSpec.from_dict(spec.as_dict()) == spec


def test_buckets_round_down() -> None:
    """Timestamps fall into the bucket starting at the multiple of its width below them."""
    assert WindowSettings(bucket_seconds=300).bucket_of(899.9) == 600
    assert Window(600, 900).contains(600)
    assert not Window(600, 900).contains(900)
