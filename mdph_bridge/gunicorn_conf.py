"""gunicorn settings shared by `mdph-bridge serve`, the image and docker-compose.

Use with `gunicorn -c python:mdph_bridge.gunicorn_conf mdph_bridge.wsgi:app`; the address and
the number of processes come from the command line (`--bind`, `--workers`).
"""

from typing import Any

from mdph_bridge.gunicorn_worker import take_slot

# Threads, not processes, wait on the network; a connection's head is gathered by the event loop.
worker_class = "mdph_bridge.gunicorn_worker.FrontDoorWorker"
workers = 2
threads = 32  # more than the uploads a proxy may stream at once (20 tested behind nginx)
# The worker's main loop stays responsive while threads stream long uploads: the heartbeat does
# not depend on the requests' length, so the default 30 s detects a stuck worker.
timeout = 30
# SIGTERM: finish the requests under way for at most this long, then stop (systemd waits 90 s).
graceful_timeout = 20
keepalive = 5
# gunicorn's own limits on the request's head (refused in French by the worker).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


def pre_fork(server: Any, worker: Any) -> None:
    """Give each worker its slot in the shared count of connections (who accepts first)."""
    take_slot(worker, server.WORKERS.values())
