"""The per-object bars' estimate of parts in flight: a worker's bytes are spread over the
parts it sends side by side, each capped at its length, and end when the part is answered."""

from hypothesis import given
from hypothesis import strategies as st

from bulkup.control.sending import SendingEstimate
from bulkup.transport.filebody import FileRange
from bulkup.transport.messages import PartTask
from bulkup.transport.request import BucketEndpoint

ENDPOINT = BucketEndpoint.from_url("http://127.0.0.1:9/b")


def part(task_id: int, key: str, length: int) -> PartTask:
    return PartTask(
        task_id=task_id,
        endpoint=ENDPOINT,
        key=key,
        source=FileRange(path="/f", offset=0, length=length),
        checksum_algorithm="none",
        upload_id="u",
        part_number=task_id,
    )


def test_bytes_are_spread_over_the_parts_sent_side_by_side():
    estimate = SendingEstimate()
    held = [part(1, "a", 1000), part(2, "b", 1000), part(3, "a", 1000)]  # two connections: 1 and 2 send
    assert estimate.sent(held, 600, lanes=2) == {"a": 300, "b": 300}


def test_a_part_never_counts_more_than_its_length_and_the_rest_goes_to_the_others():
    estimate = SendingEstimate()
    held = [part(1, "a", 100), part(2, "b", 1000)]
    assert estimate.sent(held, 600, lanes=2) == {"a": 100, "b": 500}


def test_an_answered_part_leaves_its_objects_estimate():
    estimate = SendingEstimate()
    first, second = part(1, "a", 1000), part(2, "a", 1000)
    estimate.sent([first, second], 800, lanes=2)
    assert estimate.answered(first) == ("a", 400)
    assert estimate.answered(second) == ("a", 0)


@given(
    st.lists(
        st.tuples(st.sampled_from(["sent", "answered"]), st.lists(st.integers(0, 7), max_size=8), st.integers(0, 5000)),
        max_size=30,
    )
)
def test_each_objects_total_is_the_sum_of_its_parts_in_flight_whatever_was_sent_and_answered(steps):
    parts = {n: part(n, "ab"[n % 2], 1000) for n in range(8)}
    estimate, live = SendingEstimate(), set(parts)
    for action, chosen, nbytes in steps:
        held = [parts[n] for n in chosen if n in live]
        if action == "sent":
            estimate.sent(held, nbytes, lanes=3)
        for task in held if action == "answered" else ():
            live.discard(task.task_id)
            estimate.answered(task)
        for key in "ab":
            in_flight = [estimate._sent_of(parts[n]) for n in live if parts[n].key == key]
            assert estimate.of(key) == sum(in_flight)
