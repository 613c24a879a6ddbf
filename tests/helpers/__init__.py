"""Helpers shared by the tests, imported as a package (`from tests.helpers.train import tiny_params`): pytest puts the
repository root on sys.path (pyproject's `pythonpath`), so spawned worker processes resolve them by the same name."""
