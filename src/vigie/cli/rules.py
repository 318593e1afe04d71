"""``vigie rules check|test``: validate Prometheus rule files and run their unit tests.

``check`` is ``promtool check rules``: every problem of every file, each naming the file, the
line and the rule; exit 1 when any file is invalid. Duplicate rules (same name and labels) are
reported as a lint problem, fatal (exit 3) only with ``--lint-fatal``. ``test`` is ``promtool test
rules``: the same test files, the same output, exit 0 when every test passes and 1 otherwise.

Example::

    $ vigie rules check rules/*.yml
    Checking rules/ai.yml
      SUCCESS: 24 rules found

    $ vigie rules test rules/tests.yml
    Unit Testing:  rules/tests.yml
      SUCCESS
"""

from __future__ import annotations

import argparse
import re
import sys

__all__ = ["register", "run_check", "run_pack", "run_tests"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie rules check`` and ``vigie rules test``."""
    parser = subparsers.add_parser(
        "rules",
        help="check Prometheus rule files and run rule unit tests (promtool compatible)",
        description="Validate rule files or run their unit tests, like promtool.",
    )
    commands = parser.add_subparsers(title="rules commands", metavar="COMMAND")
    check_parser = commands.add_parser(
        "check",
        help="validate rule files (promtool check rules)",
        description="Validate rule files; errors name the file, line and rule. Exit 1 on error.",
    )
    check_parser.add_argument("files", nargs="+", metavar="FILE", help="rule files")
    check_parser.add_argument(
        "--lint", choices=["duplicate-rules", "all", "none"], default="duplicate-rules",
        help="lint checks to apply (default: duplicate-rules)",
    )  # fmt: skip
    check_parser.add_argument(
        "--lint-fatal", action="store_true", help="make lint problems exit with code 3"
    )
    check_parser.set_defaults(handler=run_check)
    test_parser = commands.add_parser(
        "test",
        help="run rule unit tests (promtool test rules format)",
        description="Run unit-test files in promtool's format. Exit 0 if all pass, 1 otherwise.",
    )
    test_parser.add_argument("files", nargs="+", metavar="FILE", help="unit-test files")
    test_parser.add_argument(
        "--run", action="append", default=[], metavar="REGEX",
        help="only run test groups whose name matches (repeatable)",
    )  # fmt: skip
    test_parser.set_defaults(handler=run_tests)
    pack_parser = commands.add_parser(
        "pack",
        help="print a rule pack shipped with vigie (the AI rule pack)",
        description="Render a rule pack as a Prometheus rule file, thresholds set with --set.",
    )
    pack_parser.add_argument("name", choices=["ai"], help="the pack to render")
    pack_parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
        help="a threshold, e.g. llm_daily_spend_eur=20,40 (repeatable)",
    )  # fmt: skip
    pack_parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE, not stdout")
    pack_parser.set_defaults(handler=run_pack)
    parser.set_defaults(handler=lambda _arguments: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_check(arguments: argparse.Namespace) -> int:
    """``vigie rules check FILE...``."""
    from vigie.rules.rule_file import check_rule_file, duplicate_rules

    invalid = linted = False
    for path in arguments.files:
        print(f"Checking {path}")
        rule_file, errors = check_rule_file(path)
        problems = [str(error) for error in errors]
        if not errors and arguments.lint != "none":
            lint = _lint_message(duplicate_rules(rule_file))
            if lint:
                problems.append(lint)
                linted = True
        if problems:
            invalid = invalid or bool(errors)
            print("  FAILED:", file=sys.stderr)
            for problem in problems:
                print(problem, file=sys.stderr)
        else:
            print(f"  SUCCESS: {rule_file.rule_count} rules found")
        print()
    if invalid:
        return 1
    return 3 if linted and arguments.lint_fatal else 0


def _lint_message(duplicates: list[tuple[str, dict[str, str]]]) -> str:
    """promtool's duplicate-rules lint text (a warning unless --lint-fatal)."""
    if not duplicates:
        return ""
    message = f"lint error {len(duplicates)} duplicate rule(s) found.\n"
    for name, labels in duplicates:
        message += f"Metric: {name}\nLabel(s):\n"
        message += "".join(f"\t{key}: {value}\n" for key, value in labels.items())
    return message + "Might cause inconsistency while recording expressions"


def run_tests(arguments: argparse.Namespace) -> int:
    """``vigie rules test FILE...``."""
    from vigie.rules.unit_test import run_test_files

    try:
        return run_test_files(arguments.files, run=arguments.run)
    except re.error as error:
        print(f"vigie: error: --run: invalid regular expression: {error}", file=sys.stderr)
        return 2


def run_pack(arguments: argparse.Namespace) -> int:
    """``vigie rules pack ai [--set KEY=VALUE] [--output FILE]``."""
    from vigie.exceptions import ConfigurationError
    from vigie.rules.packs.ai import render_ai_pack, thresholds_from_mapping

    values: dict[str, object] = {}
    for setting in arguments.settings:
        key, separator, raw = setting.partition("=")
        if not separator:
            raise ConfigurationError(f"expected KEY=VALUE, got {setting!r}", field="--set")
        try:
            numbers = [float(part) for part in raw.split(",")]
        except ValueError:
            raise ConfigurationError(
                f"{key}: expected numbers, got {raw!r}", field="--set"
            ) from None
        values[key.strip()] = numbers if len(numbers) > 1 else numbers[0]
    try:
        text = render_ai_pack(thresholds_from_mapping(values))
    except (TypeError, ValueError) as error:
        raise ConfigurationError(str(error), field="--set") from None
    if arguments.output:
        with open(arguments.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0
