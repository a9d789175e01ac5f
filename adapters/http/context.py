"""The application service and the configuration a running app serves, for views to reach.

``create_app`` installs them once; views call ``current_towns()`` and ``current_config()``.
``Towns`` serialises its writes, so every waitress thread may share the one instance.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from adapters.config import Config
from domain.service import Towns

EXTENSION = "towns"


@dataclass(frozen=True)
class Served:
    towns: Towns
    config: Config


def install(app: Flask, towns: Towns, config: Config) -> None:
    """Makes ``towns`` and ``config`` the app's service and configuration."""
    app.extensions[EXTENSION] = Served(towns, config)


def current_towns() -> Towns:
    """The application service of the app handling the current request."""
    return current_app.extensions[EXTENSION].towns


def current_config() -> Config:
    """The configuration (calls, principals) of the app handling the current request."""
    return current_app.extensions[EXTENSION].config
