"""The latest-wins mailbox between the engine's threads (and the browser camera)."""

from __future__ import annotations

import threading

from pose3d_nb.mailbox import LatestSlot


def test_latest_slot_keeps_the_newest_counts_the_replaced_and_ends_after_the_last_item():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take(0.01) is None  # timeout
    assert slot.put(1) is False and slot.put(2) is True and slot.replaced == 1
    slot.finish()
    assert slot.take(0.01) == 2, "the last item before finish() is not lost to the end marker"
    assert slot.take(0.01) is LatestSlot.END


def test_latest_slot_wake_releases_a_waiting_reader():
    slot: LatestSlot[int] = LatestSlot()
    got = []
    reader = threading.Thread(target=lambda: got.append(slot.take(30)))
    reader.start()
    while not reader.is_alive():
        pass
    slot.wake()
    reader.join(10)
    assert not reader.is_alive() and got == [None]
