"""A worker's answers share pipe writes, but never wait while the coordinator waits for them."""

import time

from bulkup.transport.worker import REPLY_BATCH, Outbox


def an_outbox(delay: float = 60.0):
    writes = []
    return Outbox(writes.append, delay=delay), writes


def test_answers_within_the_delay_share_one_write():
    outbox, writes = an_outbox()
    for n in range(5):
        outbox.put(n)
    assert writes == [] and outbox.due_in() > 0  # held: the first is not yet due
    outbox.flush()
    assert writes == [[0, 1, 2, 3, 4]]


def test_a_due_batch_is_written_with_the_next_answer():
    outbox, writes = an_outbox(delay=0.01)
    outbox.put("first")
    time.sleep(0.02)
    assert outbox.due_in() == 0
    outbox.put("second")
    assert writes == [["first", "second"]]


def test_a_full_batch_goes_at_once():
    outbox, writes = an_outbox()
    for n in range(REPLY_BATCH):
        outbox.put(n)
    assert writes == [list(range(REPLY_BATCH))]


def test_an_urgent_message_goes_at_once_with_what_waited():
    outbox, writes = an_outbox()
    outbox.put("done")
    outbox.put("ready", now=True)
    assert writes == [["done", "ready"]] and outbox.due_in() is None


def test_answers_wait_longer_only_while_the_worker_holds_more_work_than_it_sends():
    busy = [True]
    writes: list = []
    outbox = Outbox(writes.append, delay=0.0, busy_delay=60.0)
    outbox.busy = lambda: busy[0]
    outbox.put("held while busy")
    assert writes == [] and outbox.due_in() > 0
    busy[0] = False
    assert outbox.due_in() == 0
    outbox.put("not busy")
    assert writes == [["held while busy", "not busy"]]
