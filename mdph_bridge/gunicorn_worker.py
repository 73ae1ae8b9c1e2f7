"""gunicorn's threaded worker made fit for a hostile network, with its own refusals in French.

gunicorn's `gthread` worker gives a thread to a connection as soon as its first bytes arrive, and
that thread then waits, without any limit, for the rest of the request's head: a few clients that
send `GET / HTTP/1.1` and stop take every thread. Here the worker's event loop gathers the head
(request line and headers) itself, with a deadline, and hands the connection to a thread only once
the head is complete; a body read stalling longer than the read timeout ends the request (408)
and its connection.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.http.errors import (
    ConfigurationProblem,
    ForbiddenProxyRequest,
    LimitRequestHeaders,
    ParseException,
    UnsupportedTransferCoding,
)
from gunicorn.http.unreader import SocketUnreader
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import TConn, ThreadWorker
from werkzeug.exceptions import RequestTimeout

HEAD_SECONDS = 10.0  # a client has this long to send the request line and headers
READ_TIMEOUT_SECONDS = 60.0  # longest silence while a body is read or a response written
MAX_HEAD_BYTES = 64 * 1024  # beyond, the parser refuses the request (431 or 400)
_END_OF_HEAD = b"\r\n\r\n"

_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{titre}</title></head>
<body><h1>{titre}</h1><p>{texte}</p><p>mdph_bridge</p></body></html>
"""
# What gunicorn itself refuses, before the application sees the request.
_REFUSALS = {
    400: ("Requête invalide", "La requête est mal formée ou trop longue et n'a pas été traitée."),
    403: ("Accès refusé", "Cette requête n'est pas acceptée par la plateforme."),
    408: ("Délai dépassé", "Le reste de la requête n'est pas arrivé à temps : renvoyez-la."),
    431: ("En-têtes trop grands", "Les en-têtes de la requête sont trop nombreux ou trop longs."),
    500: ("Erreur interne", "Réessayez plus tard ; si l'erreur persiste, prévenez l'exploitant."),
    501: ("Requête non prise en charge", "Ce codage du corps de la requête n'est pas accepté."),
}


def refusal(status: int) -> bytes:
    """The whole HTTP response, in French, for a request refused before the application."""
    title, text = _REFUSALS[status]
    body = _PAGE.format(titre=title, texte=text).encode()
    head = (
        f"HTTP/1.1 {status} {title.encode('ascii', 'replace').decode()}\r\n"
        "Connection: close\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def status_of(exc: BaseException) -> int:
    """The status gunicorn gives to a request it refuses (see gunicorn.workers.base)."""
    if isinstance(exc, LimitRequestHeaders):
        return 431
    if isinstance(exc, UnsupportedTransferCoding):
        return 501
    if isinstance(exc, ForbiddenProxyRequest):
        return 403
    if isinstance(exc, RequestTimeout):
        return 408
    if isinstance(exc, ParseException) and not isinstance(exc, ConfigurationProblem):
        return 400
    return 500


class PatientUnreader(SocketUnreader):
    """Read a socket with a limit on each silence: a body that stalls longer ends its request
    with a 408 (the hub's own answer, or a French page), not as a shorter body."""

    timed_out = False

    def chunk(self) -> bytes:
        """Return the next bytes; raise `RequestTimeout` if the client stayed silent too long."""
        try:
            return self.sock.recv(self.mxchunk)
        except TimeoutError:
            self.timed_out = True
            raise RequestTimeout from None


class FrontDoorWorker(ThreadWorker):
    """A gthread worker whose threads never wait for a request's head."""

    def init_process(self) -> None:
        """Also keep the deadlines of the connections whose head is still arriving."""
        self._heads: dict[TConn, float] = {}
        super().init_process()

    def accept(self, server: Any, listener: socket.socket) -> None:
        """Accept a connection and give it HEAD_SECONDS to send its head."""
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = TConn(self.cfg, sock, client, server)
        self.nr_conns += 1
        self._wait_for_head(conn)

    def _wait_for_head(self, conn: TConn) -> None:
        conn.head = bytearray()
        self._heads[conn] = time.monotonic() + HEAD_SECONDS
        with self._lock:
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn)
            )

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """Gather the head in the event loop; hand it to a thread once it is whole."""
        if conn.initialized and not hasattr(conn, "head"):  # a kept-alive connection
            conn.head = bytearray()
            self._heads[conn] = time.monotonic() + HEAD_SECONDS
        try:
            data = conn.sock.recv(MAX_HEAD_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        conn.head += data
        if data and _END_OF_HEAD not in conn.head and len(conn.head) < MAX_HEAD_BYTES:
            return
        with self._lock:
            self.poller.unregister(client)
            if conn.initialized:
                try:
                    self._keep.remove(conn)
                except ValueError:  # closed meanwhile by the keep-alive timeout
                    return
        self._heads.pop(conn, None)
        head = bytes(conn.head)
        del conn.head
        conn.init()
        if type(conn.parser.unreader) is SocketUnreader:
            conn.parser.unreader = PatientUnreader(conn.sock)
        conn.parser.unreader.unread(head)
        self.enqueue_req(conn)

    def handle(self, conn: TConn) -> Any:
        """Serve a request with a limit on each silence: gunicorn's `init`, as it hands the
        connection to a thread, makes the socket blocking without one (a stalled body would hold
        the thread forever)."""
        conn.sock.settimeout(READ_TIMEOUT_SECONDS)
        keepalive, conn = super().handle(conn)
        unreader = conn.parser.unreader if conn.parser else None
        if isinstance(unreader, PatientUnreader) and unreader.timed_out:
            return False, conn  # the rest of its body may still come: not a next request's head
        return keepalive, conn

    def murder_keepalived(self) -> None:
        """Also close the connections whose head did not arrive in time."""
        super().murder_keepalived()
        now = time.monotonic()
        for conn in [c for c, deadline in self._heads.items() if deadline < now]:
            del self._heads[conn]
            with self._lock:
                try:
                    self.poller.unregister(conn.sock)
                except (KeyError, ValueError, OSError):
                    continue  # already handed over or closed
                if conn.initialized:
                    try:
                        self._keep.remove(conn)
                    except ValueError:
                        continue  # the keep-alive timeout closed it already
            self.nr_conns -= 1
            conn.close()

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        """Answer a request gunicorn refuses with a French page (no address in the log)."""
        status = status_of(exc)
        if status == 500:
            self.log.exception("Error handling request")
        else:
            self.log.warning("Invalid request refused (%s): %s", status, type(exc).__name__)
        with contextlib.suppress(OSError):  # the client is gone
            write_nonblock(client, refusal(status))
