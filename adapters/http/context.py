"""The application service, the configuration and the read models a running app serves, for
views to reach.

``create_app`` installs them once, and its flask-smorest ``Api`` (``api_of``); views call
``current_towns()``, ``current_config()``, ``current_runner()`` and ``current_verifications()``
(the audit verifications of the process).
``Towns`` serialises its writes, so every waitress thread may share the one instance; the views'
store keeps one connection per thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Flask, current_app
from flask_smorest import Api

from adapters.config import Config
from adapters.audit.background import Verifications
from domain.service import Towns
from projections.runner import ProjectionRunner

EXTENSION = "towns"
API_EXTENSION = "towns_api"


@dataclass
class Served:
    towns: Towns
    config: Config
    runner: ProjectionRunner | None = None
    _building: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _verifications: Verifications | None = field(default=None, repr=False)

    def read_models(self) -> ProjectionRunner:
        """The runner given to ``create_app``; without one, a runner of every projection on
        the service's own database, built (and its tables created) at the first read."""
        if self.runner is None:
            with self._building:
                if self.runner is None:
                    from adapters.bootstrap import database_url_of
                    from adapters.bootstrap import build_runner

                    self.runner = build_runner(self.towns, database_url_of(self.towns))
        return self.runner

    def verifications(self) -> Verifications:
        """The audit verifications of this app's process, on its read models."""
        if self._verifications is None:
            runner = self.read_models()
            with self._building:
                if self._verifications is None:
                    self._verifications = Verifications(self.towns, runner)
        return self._verifications


def install(app: Flask, towns: Towns, config: Config,
            runner: ProjectionRunner | None = None) -> None:
    """Makes ``towns``, ``config`` and ``runner`` (the read models) the app's own."""
    app.extensions[EXTENSION] = Served(towns, config, runner)


def current_towns() -> Towns:
    """The application service of the app handling the current request."""
    return current_app.extensions[EXTENSION].towns


def current_config() -> Config:
    """The configuration (calls, principals) of the app handling the current request."""
    return current_app.extensions[EXTENSION].config


def current_runner() -> ProjectionRunner:
    """The read models' runner (and through it their store) of the app handling the request."""
    return current_app.extensions[EXTENSION].read_models()


def current_verifications() -> Verifications:
    """The background audit verifications of the app handling the current request."""
    return current_app.extensions[EXTENSION].verifications()


def api_of(app: Flask) -> Api:
    """The ``Api`` of an app ``create_app`` built: ``api_of(app).register_blueprint(blp)`` adds
    an area after the fact (tests, plug-ins); the app's own areas belong in ``app.BLUEPRINTS``."""
    return app.extensions[API_EXTENSION]
