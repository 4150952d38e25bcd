"""Database layer of the Poolula Platform: models and connection helpers."""
