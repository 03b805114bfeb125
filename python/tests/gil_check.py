"""Shared check that a larmor call releases the GIL while it works in C++."""
import threading
import time

import larmor


def assert_gil_released(call):
    """Runs call() in a thread on one larmor thread and asserts Python code ran meanwhile."""
    larmor.set_num_threads(1)
    try:
        worker = threading.Thread(target=call)
        worker.start()
        time.sleep(0.05)  # let it enter C++
        n = 0
        for _ in range(200000):  # pure Python work: only runs if the GIL was released
            n += 1
        still_running = worker.is_alive()
        worker.join()
        assert still_running, "Python could not run while larmor worked: the GIL was held"
    finally:
        larmor.set_num_threads(0)
