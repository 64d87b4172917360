"""The cyclic garbage collector during a run: rarely, never over what was alive at its start,
and as it was once the run ends, however it ends."""

import gc

import pytest

from bulkup.gctune import YOUNG, few_collections


def test_a_run_collects_every_young_objects_and_never_over_what_was_alive_at_its_start():
    alive = [1]
    with few_collections():
        made = [2]
        collected_over = {id(o) for o in gc.get_objects()}
        assert gc.get_threshold()[0] == YOUNG
        assert id(alive) not in collected_over and id(made) in collected_over


def test_the_collector_is_as_it_was_once_a_run_ends_however_it_ends():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with pytest.raises(KeyboardInterrupt), few_collections():
        raise KeyboardInterrupt
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
