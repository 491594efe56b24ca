"""The analysis-run tests use the shared fixtures of ../conftest.py only."""
