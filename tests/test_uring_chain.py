"""The io_uring chain arithmetic: short splices neither lose nor repeat bytes."""

from bulkup.transport.engines.uring import SpliceProgress

MiB = 1 << 20


def test_a_chain_alternates_file_to_pipe_and_pipe_to_socket_per_chunk():
    ops = SpliceProgress(0, 3 * MiB).next_chain(MiB, 16)
    assert [(op.into_pipe, op.length) for op in ops] == [(True, MiB), (False, MiB)] * 3


def test_chunks_after_an_unaligned_start_fall_on_chunk_boundaries():
    ops = SpliceProgress(100, 3 * MiB).next_chain(MiB, 16)
    offsets = [op.file_offset for op in ops if op.into_pipe]
    assert offsets == [100, MiB, 2 * MiB]


def test_a_batch_stops_after_its_chunk_count():
    assert len(SpliceProgress(0, 100 * MiB).next_chain(MiB, 16)) == 32


def test_a_short_send_leaves_bytes_that_the_next_chain_drains_first():
    state = SpliceProgress(0, 4 * MiB)
    ops = state.next_chain(MiB, 16)
    state.account(ops, stopped_at=3, result=1000)  # second S sent only 1000 bytes
    assert (state.into_pipe, state.sent, state.in_pipe) == (2 * MiB, MiB + 1000, MiB - 1000)
    again = state.next_chain(MiB, 16)
    assert (again[0].into_pipe, again[0].length) == (False, MiB - 1000)
    assert again[1].file_offset == 2 * MiB


def test_a_short_read_resumes_reading_at_the_right_offset():
    state = SpliceProgress(0, 2 * MiB)
    ops = state.next_chain(MiB, 16)
    state.account(ops, stopped_at=0, result=4096)  # F moved 4 KiB, its S was cancelled
    again = state.next_chain(MiB, 16)
    assert (again[0].into_pipe, again[0].length) == (False, 4096)
    assert (again[1].file_offset, again[1].length) == (4096, MiB - 4096)


def test_a_completed_chain_finishes_the_body():
    state = SpliceProgress(10, 10 + 5 * MiB)
    ops = state.next_chain(MiB, 16)
    state.account(ops, stopped_at=len(ops) - 1, result=ops[-1].length)
    assert state.done and state.in_pipe == 0
