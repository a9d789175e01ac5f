"""dramatiq's own Prometheus middleware, exposed by our processes.

dramatiq's middleware serves its metrics from a server that only its own ``dramatiq`` command
forks, and switches prometheus_client into multi-process mode through the environment. The
workers here run inside ``towns worker`` (or the embedded thread), so this keeps its counters
(messages, errors, retries, rejects, in progress, durations per queue and actor), leaves the
environment as it was, and adds them to the default registry that ``/metrics`` and
``TOWNS_METRICS_PORT`` already serve.
"""

from __future__ import annotations

import os

from dramatiq.middleware.prometheus import Prometheus
from prometheus_client import REGISTRY

_MULTIPROCESS = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")


class WorkerMetrics(Prometheus):
    @property
    def forks(self):
        return []  # no exposition server of dramatiq's own: ours serves the default registry

    def after_process_boot(self, broker) -> None:
        saved = {name: os.environ.get(name) for name in _MULTIPROCESS}
        try:
            super().after_process_boot(broker)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        for metric in (self.total_messages, self.total_errored_messages,
                       self.total_retried_messages, self.total_rejected_messages,
                       self.inprogress_messages, self.inprogress_delayed_messages,
                       self.message_durations):
            try:
                REGISTRY.register(metric)
            except ValueError:  # a second broker in one process: the newest one's are served
                for name in REGISTRY._get_names(metric):  # prometheus_client's own lookup
                    old = REGISTRY._names_to_collectors.get(name)
                    if old is not None:
                        REGISTRY.unregister(old)
                REGISTRY.register(metric)

    def after_worker_shutdown(self, broker, worker) -> None:
        """Nothing to mark: these metrics live in this process only."""
