"""Markers that scikit-learn's own test files use (their tests run here against our drop-in)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "thread_unsafe: scikit-learn's marker (no effect here)")
