"""Running test work in several threads at once, each with its own database connection."""

import threading

from django.db import connection


def run_together(count, work):
    """Run work(i) in `count` threads released at once; re-raise the first error of any thread."""
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def target(i):
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except BaseException as error:  # noqa: BLE001 - handed back to the test thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is still running after 60 s"
    if errors:
        raise errors[0]
    return results
