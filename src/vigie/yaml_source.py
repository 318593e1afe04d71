"""YAML loading that remembers where each key and item came from.

Config files, rule files and routing files are YAML, and a user fixing one needs the line of the
mistake. :func:`load_yaml` returns ordinary dicts and lists (subclasses) that also carry the line of
each key and item, so validators can raise errors such as ``vigie.yml:12: scrape_interval: ...``.

Example::

    >>> document = load_yaml("route:\\n  receiver: team\\n", source="am.yml")
    >>> document["route"]["receiver"]
    'team'
    >>> document["route"].line_of("receiver")
    2
"""

from __future__ import annotations

from typing import Any

import yaml

from vigie.exceptions import ConfigurationError

__all__ = ["LineDict", "LineList", "load_yaml"]


class LineDict(dict[Any, Any]):
    """A mapping that knows its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        """The line of ``key``, or of the mapping itself when the key is absent."""
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence that knows its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        """The line of item ``index``."""
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    """SafeLoader building LineDict and LineList and refusing duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in mapping:
            raise ConfigurationError(
                f"duplicate key {key!r} (first on line {mapping.key_lines[key]})",
                path=loader.name,
                line=line,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    sequence = LineList(loader.construct_object(child, deep=True) for child in node.value)
    sequence.line = node.start_mark.line + 1
    sequence.item_lines = [child.start_mark.line + 1 for child in node.value]
    return sequence


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str, *, source: str = "<string>") -> Any:
    """Parse ``text``; mappings and sequences come back as :class:`LineDict` / :class:`LineList`.

    Syntax errors become :class:`~vigie.exceptions.ConfigurationError` naming ``source`` and line.
    """
    try:
        # The reader checks the characters as soon as the loader is built.
        loader = _Loader(text)
    except yaml.YAMLError as error:
        raise ConfigurationError(f"invalid YAML: {error}", path=source) from None
    loader.name = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or str(error)
        raise ConfigurationError(f"invalid YAML: {problem}", path=source, line=line) from None
    except yaml.YAMLError as error:
        raise ConfigurationError(f"invalid YAML: {error}", path=source) from None
    finally:
        loader.dispose()
