"""Fault injection: every submitted transfer reaches `ready` exactly once, whatever crashes.

Each test runs against its own PostgreSQL and Redis servers, started here on free ports, so that
they can be killed and restarted without touching anything else. The database's own records
(states, events, package keys) and the blobs on disk are the evidence.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cluster import Cluster
from dossiers import PDF, dossier, multipart, submit
from flask.testing import FlaskClient
from processes import Process
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import bearer, empty_tables, files_under

from mdph_bridge.models import AuditEntry, AuditPending, Transfer, TransferEvent
from mdph_bridge.services.admin import create_demo
from mdph_bridge.services.audit import verify
from mdph_bridge.services.queue import BROKER_PAUSE_SECONDS, LARGE_QUEUE, PROCESS_TASK, QUEUE

pytestmark = pytest.mark.e2e
BATCH = 50


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Dedicated PostgreSQL and Redis, a migrated database, one worker and exactly one beat."""
    cluster = Cluster(tmp_path_factory.mktemp("faults"))
    try:
        cluster.beat.start()
        cluster.start(cluster.worker)
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def session(cluster: Cluster) -> Iterator[Session]:
    with cluster.hub.app_context():
        yield cluster.hub.extensions["mdph_bridge"].sessions()
        cluster.hub.extensions["mdph_bridge"].sessions.remove()


@pytest.fixture
def client(cluster: Cluster) -> FlaskClient:
    return cluster.hub.test_client()


@pytest.fixture
def token(cluster: Cluster, session: Session, keys_dir: Path) -> Iterator[str]:
    """A caseworker token of Nord (59), sending to Pas-de-Calais (62); every table emptied after."""
    demo = create_demo(session, keys_dir)
    yield demo["59"]["jetons"]["caseworker"]
    session.rollback()
    for process in cluster.workers:  # the next test starts with a live worker
        if process.proc is None or process.proc.poll() is not None:
            cluster.start(process)
    empty_tables(cluster.hub.extensions["mdph_bridge"].engine)
    # The beat's orphan sweeper (every ORPHAN_AGE_SECONDS) may remove files and folders meanwhile,
    # now that they have no transfer: a race either side may win.
    for child in Path(cluster.settings["STORAGE_DIR"]).glob("*"):
        shutil.rmtree(child, ignore_errors=True)


def submit_batch(client: FlaskClient, token: str, count: int = BATCH) -> list[uuid.UUID]:
    """Submit `count` small transfers one after the other, each with its own document."""
    batch = ({"justificatif.pdf": PDF + f"{n}".encode()} for n in range(count))
    return [submit(client, token, dossier(files=files), files) for files in batch]


@contextmanager
def frozen(*processes: Process) -> Iterator[None]:
    """Hold processes still (SIGSTOP), so that a batch queues up before they work on it."""
    pids = [p.proc.pid for p in processes if p.proc is not None]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def queued_batch(cluster: Cluster, client: FlaskClient, token: str) -> list[uuid.UUID]:
    """Submit a batch that waits in the queue, then let the worker start on it."""
    with frozen(cluster.worker):
        ids = submit_batch(client, token)
        assert queue_length(cluster) > 0
    return ids


def states(session: Session, ids: list[uuid.UUID]) -> Counter[str]:
    """How many of these transfers are in each state, as committed right now."""
    rows = session.execute(
        select(Transfer.state, func.count()).where(Transfer.id.in_(ids)).group_by(Transfer.state)
    ).all()
    session.commit()  # end the read transaction: the next call sees new commits
    return Counter({state: count for state, count in rows})


def wait_until(
    session: Session, ids: list[uuid.UUID], done: Callable[[Counter[str]], bool], timeout: float
) -> Counter[str]:
    """Poll the database until `done(states)` holds."""
    deadline = time.monotonic() + timeout
    while not done(current := states(session, ids)):
        assert time.monotonic() < deadline, f"still {dict(current)} after {timeout} s"
        time.sleep(0.02)
    return current


def wait_all_ready(session: Session, ids: list[uuid.UUID], timeout: float = 60) -> None:
    """Wait until every transfer of the batch is `ready`."""
    wait_until(session, ids, lambda s: s["ready"] == len(ids), timeout)


def assert_exactly_once(cluster: Cluster, session: Session, ids: list[uuid.UUID]) -> None:
    """Every transfer is ready once, with its events and its package; nothing else exists."""
    assert session.scalar(select(func.count()).select_from(Transfer)) == len(ids)
    transfers = session.scalars(
        select(Transfer).where(Transfer.id.in_(ids)).execution_options(populate_existing=True)
    ).all()
    assert len(transfers) == len(set(ids)) == len(ids)
    events: dict[uuid.UUID, list[str]] = {}
    for transfer_id, to_state in session.execute(
        select(TransferEvent.transfer_id, TransferEvent.to_state).order_by(TransferEvent.id)
    ):
        events.setdefault(transfer_id, []).append(to_state)
    session.commit()
    expected_blobs = set()
    for transfer in transfers:
        assert transfer.state == "ready"
        history = events[transfer.id]
        # received, then one `validating` per attempt (a failed one goes back to `received`),
        # then exactly one `ready`.
        assert history[0] == "received"
        assert history[-1] == "ready"
        assert history.count("ready") == 1
        assert set(history[1:-1]) <= {"validating", "received"}
        assert history.count("validating") == transfer.attempts >= 1
        assert transfer.inbound_seq is not None
        assert transfer.package_key is not None
        expected_blobs.add(transfer.package_key)
    assert len({t.inbound_seq for t in transfers}) == len(ids)
    # What a crash left behind (a staging payload, a half-written package) is removed by the
    # orphan sweeper: wait for it, then nothing but the packages may remain.
    storage = Path(cluster.settings["STORAGE_DIR"])
    deadline = time.monotonic() + 30
    while (blobs := {p.relative_to(storage).as_posix() for p in files_under(storage)}) != (
        expected_blobs
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert blobs == expected_blobs, "orphan or missing blobs"


def attempts(session: Session) -> set[int]:
    """The distinct numbers of processing attempts the transfers took."""
    values = set(session.scalars(select(Transfer.attempts)))
    session.commit()
    return values


def queue_length(cluster: Cluster) -> int:
    """Messages waiting in the `transfers` queue of the dedicated Redis."""
    with cluster.redis.client() as client:
        return int(client.llen(QUEUE))


def test_worker_killed_mid_batch(
    cluster: Cluster, session: Session, client: FlaskClient, token: str
) -> None:
    ids = queued_batch(cluster, client, token)
    # SIGKILL while a transfer is being packaged: no ack, no release, maybe a half-written blob.
    wait_until(session, ids, lambda s: s["validating"] > 0 and s["ready"] >= 1, timeout=60)
    cluster.worker.kill()
    at_kill = states(session, ids)
    assert at_kill["ready"] < BATCH, "the batch was over before the kill"

    cluster.start(cluster.worker)
    wait_all_ready(session, ids)
    assert_exactly_once(cluster, session, ids)


def test_redis_restarted_mid_batch_loses_the_queue(
    cluster: Cluster, session: Session, client: FlaskClient, token: str
) -> None:
    ids = submit_batch(client, token, 5)
    wait_until(session, ids, lambda s: s["ready"] >= 1, timeout=60)
    with frozen(cluster.worker):
        ids += submit_batch(client, token, BATCH - 5)
        assert queue_length(cluster) > 0
        cluster.redis.stop()
        cluster.redis.start()
        assert queue_length(cluster) == 0, "the restart should have lost the queue"

    wait_all_ready(session, ids)  # the sweeper sends the lost wake-ups again
    assert_exactly_once(cluster, session, ids)


def test_redis_down_while_submitting(
    cluster: Cluster, session: Session, client: FlaskClient, token: str
) -> None:
    cluster.redis.stop()
    ids = submit_batch(client, token)  # every submission is still accepted (202)
    submitted_at = time.monotonic()  # after the last failed publish: the hub then skips the broker
    assert states(session, ids) == Counter({"received": BATCH})

    cluster.redis.start()
    wait_all_ready(session, ids)
    assert_exactly_once(cluster, session, ids)
    # Leave the next test a hub that publishes again: within the pause, its submissions would be
    # left to the sweeper and never queue (the sweeper was faster than the pause here).
    time.sleep(max(0.0, submitted_at + BROKER_PAUSE_SECONDS - time.monotonic()))


def test_postgres_restarted_mid_batch(
    cluster: Cluster, session: Session, client: FlaskClient, token: str
) -> None:
    ids = queued_batch(cluster, client, token)
    wait_until(session, ids, lambda s: s["ready"] >= 1, timeout=60)
    cluster.postgres.stop()
    files = {"justificatif.pdf": PDF}
    response = client.post(
        "/api/v1/transfers", **multipart(dossier(files=files), files), headers=bearer(token)
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json()["erreurs"][0]["code"] == "service.indisponible"
    assert "indisponible" in response.get_json()["erreurs"][0]["message"]
    listing = client.get("/api/v1/transfers", headers=bearer(token))
    assert listing.status_code == 503
    time.sleep(2)  # the worker and the beat meet the outage too

    cluster.postgres.start()
    wait_all_ready(session, ids)
    assert_exactly_once(cluster, session, ids)


@pytest.fixture
def second_worker(cluster: Cluster) -> Iterator[Process]:
    """Another worker on the same queues, stopped after the test."""
    process = cluster.new_worker("second")
    cluster.workers.append(process)
    cluster.start(process)
    yield process
    process.stop()
    cluster.workers.remove(process)


def test_same_task_delivered_twice_at_once(
    cluster: Cluster, session: Session, client: FlaskClient, token: str, second_worker: Process
) -> None:
    celery = cluster.hub.extensions["celery"]
    with frozen(*cluster.workers):  # hold the deliveries until both copies of each are queued
        ids = submit_batch(client, token)
        for transfer_id in ids:
            celery.send_task(PROCESS_TASK, args=[str(transfer_id)], queue=QUEUE)
        assert queue_length(cluster) >= 2 * BATCH - 2

    wait_all_ready(session, ids)
    assert_exactly_once(cluster, session, ids)
    assert attempts(session) == {1}


def test_warm_shutdown_mid_batch(
    cluster: Cluster, session: Session, client: FlaskClient, token: str
) -> None:
    ids = queued_batch(cluster, client, token)
    wait_until(session, ids, lambda s: s["ready"] >= 1, timeout=60)
    worker = cluster.worker.proc
    assert worker is not None
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0  # the warm shutdown ends by itself
    at_stop = states(session, ids)
    assert at_stop["ready"] < BATCH, "the batch was over before the shutdown"
    assert at_stop["validating"] == 0, "the warm shutdown left a transfer half done"

    cluster.start(cluster.worker)
    wait_all_ready(session, ids)
    assert_exactly_once(cluster, session, ids)
    # The transfer in hand was finished, the others waited: no attempt was cut short.
    assert attempts(session) == {1}


@pytest.fixture
def patient_worker(cluster: Cluster) -> Iterator[Process]:
    """A worker in place of the cluster's, whose failed attempts wait long before their retry."""
    cluster.worker.stop()
    model = cluster.new_worker("patient")
    env = {**cluster.env, "MDPH_BRIDGE_RETRY_BACKOFF_SECONDS": "600"}  # 300 s, the cap
    process = Process(model.args, env, model.cwd, model.log)
    cluster.start(process)
    yield process
    process.stop()


def held_retries(cluster: Cluster) -> list[object]:
    """The retries with a countdown the workers hold in memory until it ends."""
    replies = cluster.hub.extensions["celery"].control.inspect(timeout=0.5).scheduled() or {}
    return [task for tasks in replies.values() for task in tasks]


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_a_worker_stopped_while_it_holds_a_retry_loses_no_transfer(
    cluster: Cluster,
    session: Session,
    client: FlaskClient,
    token: str,
    patient_worker: Process,
    stop: str,
) -> None:
    """A failed attempt's retry waits out its countdown in the worker's memory alone (kombu keeps
    no copy in Redis): a worker killed loses it and the sweeper wakes the transfer; a worker
    stopped warmly puts it back in its queue. Either way the transfer is ready, once."""
    packages = Path(cluster.settings["STORAGE_DIR"]) / "packages"
    with frozen(cluster.beat):  # no sweep until the worker is gone
        shutil.rmtree(packages, ignore_errors=True)
        packages.parent.mkdir(parents=True, exist_ok=True)
        packages.write_bytes(b"")  # a file where the packages' folder goes: the attempt fails
        try:
            [transfer_id] = submit_batch(client, token, 1)
            deadline = time.monotonic() + 30
            while not held_retries(cluster):
                assert time.monotonic() < deadline, "the failed attempt's retry was never held"
        finally:
            packages.unlink()
        assert states(session, [transfer_id]) == Counter({"received": 1})
        assert attempts(session) == {1}
        assert queue_length(cluster) == 0
        with cluster.redis.client() as redis_client:  # kombu's record of unacked messages
            assert redis_client.exists("unacked", "unacked_index") == 0
        if stop == "SIGKILL":
            patient_worker.kill()
            assert queue_length(cluster) == 0, "the retry died with the worker"
        else:
            patient_worker.stop()
            assert patient_worker.proc is not None
            assert patient_worker.proc.returncode == 0
            assert queue_length(cluster) == 1, "the warm shutdown put the retry back"

    cluster.start(cluster.worker)
    wait_all_ready(session, [transfer_id])  # the sweeper's wake-up, long before the countdown
    assert_exactly_once(cluster, session, [transfer_id])
    assert attempts(session) == {2}


def test_a_big_transfer_does_not_hold_up_small_ones(
    cluster: Cluster, session: Session, client: FlaskClient, token: str
) -> None:
    cluster.worker.stop()  # replaced by one worker per queue, as `mdph-bridge serve` runs them
    small_worker = cluster.new_worker("small", "transfers,maintenance")
    large_worker = cluster.new_worker("large", LARGE_QUEUE)
    for process in (small_worker, large_worker):
        cluster.start(process)
    try:
        big = PDF + bytes(cluster.settings.get("LARGE_TRANSFER_BYTES", 10 * 1024 * 1024))
        files = {"gros.pdf": big}
        response = client.post(
            "/api/v1/transfers", **multipart(dossier(files=files), files), headers=bearer(token)
        )
        assert response.status_code == 202
        big_id = uuid.UUID(response.get_json()["id"])
        with frozen(large_worker):  # the big one takes its time
            small = submit_batch(client, token, 10)
            wait_all_ready(session, small)
            assert states(session, [big_id]) == Counter({"received": 1})
        wait_all_ready(session, [big_id])
        assert_exactly_once(cluster, session, [*small, big_id])
    finally:
        small_worker.stop()
        large_worker.stop()


def test_frozen_workers_hold_up_no_api_answer(
    cluster: Cluster, session: Session, client: FlaskClient, token: str
) -> None:
    """Workers frozen and thawed again and again (mid-seal too): submissions answer at once."""
    freeze, thaw = 2.5, 0.3
    stop = threading.Event()

    def freeze_and_thaw() -> None:
        while not stop.is_set():
            with frozen(*cluster.workers, cluster.beat):
                stop.wait(freeze)
            stop.wait(thaw)

    freezer = threading.Thread(target=freeze_and_thaw)
    freezer.start()
    answers: list[float] = []
    ids: list[uuid.UUID] = []
    try:
        for n in range(BATCH):
            started = time.monotonic()
            files = {"justificatif.pdf": PDF + f"{n}".encode()}
            ids.append(submit(client, token, dossier(files=files), files))
            answers.append(time.monotonic() - started)
    finally:
        stop.set()
        freezer.join()
    # A submission that waited on a frozen process would wait until it thaws: up to `freeze`.
    assert max(answers) < freeze, f"slowest answer {max(answers):.2f} s"
    wait_all_ready(session, ids)
    assert_exactly_once(cluster, session, ids)
    audit_sealed_once(session, ids)


def audit_sealed_once(session: Session, ids: list[uuid.UUID], timeout: float = 30) -> None:
    """The sequencer sealed one creation entry per transfer, in a chain that verifies."""
    deadline = time.monotonic() + timeout
    while session.scalar(select(func.count()).select_from(AuditPending)):
        session.commit()
        assert time.monotonic() < deadline, "audit entries left unsealed"
        time.sleep(0.2)
    created = session.scalars(
        select(AuditEntry.object_id).where(AuditEntry.action == "transfers.create")
    ).all()
    assert sorted(created) == sorted(str(i) for i in ids)
    assert verify(session).ok
    session.commit()
