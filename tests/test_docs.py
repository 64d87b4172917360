"""The documents made from the code say what the code does."""

from devtools import optiondocs


def test_the_options_page_is_made_from_the_declarations_as_they_are():
    assert optiondocs.DOC.read_text() == optiondocs.render(), "run: python -m devtools.optiondocs"
