"""The application's settings, read once from the environment with defaults."""
import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    """Where the application keeps its data."""

    data_dir: str
    db_name: str

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL the application and its migrations share."""
        return f"sqlite:///{self.data_dir}/{self.db_name}"


@lru_cache
def get_settings() -> Settings:
    """MYAPP_DATA_DIR and MYAPP_DB_NAME, else ./data/myapp.db."""
    return Settings(
        data_dir=os.environ.get("MYAPP_DATA_DIR", "data"),
        db_name=os.environ.get("MYAPP_DB_NAME", "myapp.db"),
    )
