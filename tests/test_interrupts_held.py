"""Ctrl-C held back while the store answers a call it acts on (control/interrupts.py)."""

import os
import signal

import pytest

from bulkup.control.interrupts import interrupts_held


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_a_ctrl_c_inside_the_block_acts_when_the_block_ends():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            ctrl_c()
            finished.append(True)
    assert finished == [True]


def test_a_second_ctrl_c_acts_at_once():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            ctrl_c()
            ctrl_c()
            finished.append(True)
    assert finished == []


def test_a_held_ctrl_c_is_not_lost_when_the_block_fails():
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            ctrl_c()
            raise ValueError("the call failed")


def test_the_handlers_are_restored_after_the_block():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupts_held():
        pass
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts_held():
            ctrl_c()
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
