"""Poolula Platform core package: the example application safeguard protects."""
