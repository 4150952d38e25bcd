"""Fixtures for tests against the throwaway PostgreSQL server that `make test` starts."""
