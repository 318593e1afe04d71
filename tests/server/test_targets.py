"""Target discovery: static groups and file_sd files (JSON and YAML)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vigie.exceptions import ConfigurationError
from vigie.server.config_model import FileSDConfig, ScrapeConfig
from vigie.server.targets import FileDiscovery, Target, read_target_file

JOB = ScrapeConfig("node", 15_000, 10_000, metrics_path="/m", params=(("x", ("1", "2")),))


def test_yaml_and_json_files_give_targets(tmp_path: Path) -> None:
    """Both formats are read; labels, URL and params follow the job."""
    (tmp_path / "a.yml").write_text("- targets: ['h1:9100']\n  labels: {env: prod}\n")
    (tmp_path / "b.json").write_text('[{"targets": ["h2:9100"]}]')
    discovery = FileDiscovery(FileSDConfig((str(tmp_path / "*.yml"), str(tmp_path / "*.json"))))
    assert discovery.refresh()
    targets = [t for t in discovery.targets(JOB) if isinstance(t, Target)]
    assert [(t.url, dict(t.labels)) for t in targets] == [
        ("http://h1:9100/m?x=1&x=2", {"env": "prod", "instance": "h1:9100", "job": "node"}),
        ("http://h2:9100/m?x=1&x=2", {"instance": "h2:9100", "job": "node"}),
    ]
    assert not discovery.refresh()  # nothing changed


def test_invalid_file_keeps_last_good_targets(tmp_path: Path) -> None:
    """A broken rewrite is reported and the previous targets stay; deleting removes them."""
    path = tmp_path / "t.json"
    path.write_text('[{"targets": ["h1:1"]}]')
    discovery = FileDiscovery(FileSDConfig((str(path),)))
    discovery.refresh()
    path.write_text('[{"targets": ["h1:1"')
    os.utime(path, ns=(1, 1))
    assert not discovery.refresh()
    assert [t.address for t in discovery.targets(JOB) if isinstance(t, Target)] == ["h1:1"]
    assert "invalid target file" in discovery.errors[str(path)]
    path.unlink()
    assert discovery.refresh()
    assert discovery.targets(JOB) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"targets": []}', "expected a list of target groups"),
        ('[{"targets": "h:1"}]', "[0]: expected a list of host:port"),
        ('[{"targets": ["h:1"], "lables": {}}]', "[0]: expected {targets, labels}"),
        ('[{"targets": ["h:1"], "labels": {"a": 1}}]', "[0]: expected string labels"),
    ],
)
def test_bad_target_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    """Each malformed target file raises a ConfigurationError naming the file."""
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        read_target_file(str(path))
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)
