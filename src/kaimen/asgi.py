"""The ASGI entry point a server process imports: ``kaimen.asgi:app_from_env`` (a factory).

Settings come from the environment (``KAIMEN_*``), read once here.
"""

from __future__ import annotations

from typing import Any

from kaimen.app import create_app
from kaimen.settings import load_settings


def app_from_env() -> Any:
    settings = load_settings()
    from kaimen.logs import configure_logging

    configure_logging(settings.log_level)
    return create_app(settings)
