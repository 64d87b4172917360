"""The progress model: the numbers every display shows, from events alone."""

from bulkup.display.state import ProgressState


def started(objects=10, total=1000) -> ProgressState:
    state = ProgressState()
    state.start(objects, total, now=100.0)
    state.worker_ready(0, 4242, "kTLS+io_uring", 2)
    state.worker_ready(1, 4243, "user-space TLS", 2)
    return state


def test_bytes_done_counts_each_object_once_whether_whole_or_in_parts():
    state = started()
    state.object_started("big", 600, parts=3)
    for number in (1, 2, 3):
        state.part_done("big", number, 200, worker=0, data_path="kTLS+io_uring")
    state.object_done("big", 600)
    state.object_done("small", 100)
    assert state.bytes_done == 700 and state.objects_done == 2
    assert "big" not in state.large


def test_large_object_shows_parts_done_of_total():
    state = started()
    state.object_started("big", 600, parts=3)
    state.part_done("big", 1, 200, worker=1, data_path="user-space TLS")
    assert (state.large["big"].parts_done, state.large["big"].parts) == (1, 3)


def test_smoothed_rate_and_eta_follow_the_bytes_sent():
    state = started(total=10_000)
    state.add_sent(0, 1000)
    state.tick(101.0)
    assert state.rate == 1000
    assert state.eta() == 9.0


def test_eta_of_many_small_objects_follows_the_objects_finished_not_their_bytes():
    state = started(objects=1000, total=1000 * 16_384)
    state.add_sent(0, 500 * 16_384)  # half the bytes handed to the kernel at once ...
    for i in range(100):  # ... while the store has taken 100 objects a second
        state.object_done(f"k{i}", 16_384)
    state.tick(101.0)
    assert state.eta() == 9.0  # 900 objects left at 100 a second, not 500 x 16 KiB at the byte rate


def test_eta_of_one_large_object_follows_its_bytes():
    state = started(objects=1, total=10_000)
    state.object_started("big", 10_000, parts=10)
    state.add_sent(0, 1000)
    state.tick(101.0)
    assert state.eta() == 9.0


def test_a_large_objects_bar_counts_the_bytes_of_its_parts_in_flight():
    state = started()
    state.object_started("big", 600, parts=3)
    state.object_sending("big", 150)
    assert (state.large["big"].bytes_shown, state.large["big"].parts_done) == (150, 0)
    state.part_done("big", 1, 200, worker=0, data_path="kTLS+io_uring")
    state.object_sending("big", 50)  # the first part answered, the second under way
    assert state.large["big"].bytes_shown == 250


def test_peak_rate_is_the_best_one_second_window():
    state = started(total=10_000)
    state.add_sent(0, 3000)
    state.tick(101.0)
    state.add_sent(0, 500)
    state.tick(102.0)
    assert state.peak_rate == 3000


def test_retrying_counts_parts_until_they_succeed_and_keeps_the_reason():
    state = started()
    state.part_retried("big", 2, "connection reset")
    state.part_retried("small", None, "503 SlowDown")
    assert len(state.retrying) == 2 and state.retries == 2
    state.part_done("big", 2, 10, worker=0, data_path="kTLS+io_uring")
    state.object_done("small", 10)
    assert len(state.retrying) == 1  # an object's done event is not a part's
    state.object_failed("small", 10, "gave up")
    assert not state.retrying
    assert list(state.errors)[-1] == "failed small: gave up"


def test_worker_ktls_column_reflects_the_path_its_parts_took():
    state = started()
    assert state.workers[0].ktls == "on" and state.workers[1].ktls == "off"
    state.part_done("x", None, 1, worker=0, data_path="user-space TLS")  # fell back
    assert state.workers[0].ktls == "off"
    state.worker_ready(2, 1, "plain+sendfile", 1)
    assert state.workers[2].ktls == "-"


def test_skipped_objects_leave_the_byte_total():
    state = started(total=1000)
    state.object_skipped("k", 300)
    assert state.bytes_total == 700 and state.objects_finished == 1


def test_a_dead_worker_is_marked_and_said():
    state = started()
    state.worker_lost(1, "killed by signal 9")
    assert not state.workers[1].alive
    assert "worker 1 died" in state.errors[-1]
