"""The interpreter's switch interval is process-wide: shortened while any thread has a second
sending thread, put back only when the last one ends, whatever the order they end in."""

import sys

from workflows.services.execution import background


def test_overlapping_second_threads_put_the_interval_back_once_the_last_ends():
    before = sys.getswitchinterval()
    background._short_switch_interval_enter()  # one thread's batch loop
    background._short_switch_interval_enter()  # another thread's, overlapping
    background._short_switch_interval_exit()  # the first ends while the second still sends
    assert sys.getswitchinterval() == background.SWITCH_INTERVAL_SECONDS
    background._short_switch_interval_exit()
    assert sys.getswitchinterval() == before
