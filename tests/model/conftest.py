"""Every test here runs its tiny models on one thread (tests/helpers/threads.py)."""

from tests.helpers.threads import one_thread  # noqa: F401  (an autouse fixture)
