"""Prometheus rule files: recording and alerting rules, group scheduling, rule unit tests.

Example::

    >>> from vigie.rules import check_rule_file
    >>> callable(check_rule_file)
    True
"""

from vigie.rules.alerting import Alert, AlertingRule, AlertState, QueryFunction, RuleHealth
from vigie.rules.group import RuleGroup
from vigie.rules.manager import RuleManager
from vigie.rules.recording import RecordingRule
from vigie.rules.rule_file import RuleFile, check_rule_file, load_rule_file
from vigie.rules.templating import AlertData, Template, TemplateError
from vigie.rules.unit_test import run_test_file, run_test_files, vector_query

__all__ = [
    "Alert",
    "AlertData",
    "AlertState",
    "AlertingRule",
    "QueryFunction",
    "RecordingRule",
    "RuleFile",
    "RuleGroup",
    "RuleHealth",
    "RuleManager",
    "Template",
    "TemplateError",
    "check_rule_file",
    "load_rule_file",
    "run_test_file",
    "run_test_files",
    "vector_query",
]
