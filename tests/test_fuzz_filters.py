"""Fuzzing --exclude / --include: any pattern is a rule or one line saying why not, any path
is admitted or not, and the last matching rule decides."""

import fnmatch
import glob

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkup.errors import UsageError
from bulkup.options.resolve import resolve_filters
from bulkup.plan.filters import Filters

FUZZ = settings(max_examples=500, deadline=None)

# Wildcards, brackets and separators are what patterns are made of; any character may appear.
pattern_text = st.text(st.sampled_from("*?[]!^-/\\.a") | st.characters(), max_size=12)
paths = st.text(st.sampled_from("ab./ \n") | st.characters(), min_size=1, max_size=20)
rules = st.lists(st.tuples(st.sampled_from(["include", "exclude"]), pattern_text), max_size=4)


@FUZZ
@given(rules=rules, candidates=st.lists(paths, max_size=5))
def test_any_rules_are_filters_or_one_line_and_any_path_is_admitted_or_not(rules, candidates):
    try:
        filters = resolve_filters(rules)
    except UsageError as exc:
        assert "\n" not in str(exc) and any(pattern == "" for _, pattern in rules)
        return
    assert all(isinstance(filters.admits(path), bool) for path in candidates)


@FUZZ
@given(rules=rules.filter(lambda r: all(pattern for _, pattern in r)), path=paths)
def test_the_last_rule_whose_pattern_matches_decides(rules, path):
    matching = [action for action, pattern in rules if fnmatch.fnmatchcase(path, pattern)]
    assert Filters.of(rules).admits(path) == (matching[-1] == "include" if matching else True)


@FUZZ
@given(path=paths)
def test_a_pattern_without_wildcards_excludes_exactly_that_path(path):
    filters = Filters.of([("exclude", glob.escape(path))])
    assert not filters.admits(path)
    assert filters.admits(path + "x")


def test_an_empty_pattern_is_one_line_naming_the_option():
    with pytest.raises(UsageError, match="^filters: --exclude needs a pattern$"):
        resolve_filters([("exclude", "")])
