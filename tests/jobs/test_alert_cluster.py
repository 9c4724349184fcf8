"""Alert evaluation in a cluster: two production backends (``reflex run --env prod --backend-only``, each in its own
process group) on ONE SQLite file (WAL), each with ALERTS_EVALUATE_SECONDS=2 and JOB_LEASE_SECONDS=5.

Each 2-second slot is evaluated once across both instances; and when the instance that holds the lease is killed
with -9 while the SMTP server holds its alert e-mail, the other one takes over once the lease has expired and
delivers the e-mail, the alert event recording the interrupted attempt and then the sent one.

Backend-only is enough (the jobs run in the backend) and starts much faster than the full server, which also builds
the frontend.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import make_engine
from app.models import AlertEvent, Campaign, JobLease, JobRun, VisitSession
from app.models.base import utcnow
from app.services import alerts, campaigns
from tests.utils.factories import make_owner
from tests.utils.server import Server, free_port, migrate, server_env, start_server
from tests.utils.smtp import SmtpServer

EVERY = 2  # ALERTS_EVALUATE_SECONDS
LEASE = 5  # JOB_LEASE_SECONDS (the settings' minimum)
JOB = "evaluate_alerts"
START_TIMEOUT_S = 180


@dataclass
class Cluster:
    servers: list[Server]
    engine: Engine
    smtp: SmtpServer
    up_at: datetime  # both instances answer from here on
    start_seconds: float  # how long starting both took

    def server_of(self, holder: str) -> Server:
        """The instance whose process group holds ``holder`` (``hostname:pid:hex``)."""
        pid = int(holder.split(":")[1])
        group = os.getpgid(pid)
        [found] = [s for s in self.servers if s.process.pid == group]
        return found


def _slot(moment: datetime) -> int:
    return int(moment.timestamp()) // EVERY


def _runs(engine: Engine, since: datetime | None = None) -> list[JobRun]:
    with Session(engine) as session:
        query = select(JobRun).where(JobRun.job_name == JOB).order_by(col(JobRun.started_at))
        if since is not None:
            query = query.where(col(JobRun.started_at) >= since)
        return list(session.exec(query).all())


def _lease(engine: Engine) -> JobLease | None:
    with Session(engine) as session:
        return session.get(JobLease, JOB)


def _wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    shared = tmp_path_factory.mktemp("cluster-db")
    url = f"sqlite:///{shared / 'paidsignal.db'}"
    with SmtpServer() as smtp:
        envs = []
        for n in range(2):
            port, data_dir = free_port(), tmp_path_factory.mktemp(f"instance-{n}")
            env = server_env(
                port,
                data_dir,
                data_dir / ".web",
                DATABASE_URL=url,
                ALERTS_EVALUATE_SECONDS=str(EVERY),
                JOB_LEASE_SECONDS=str(LEASE),
                **smtp.env(),
            )
            envs.append((port, data_dir, env))
        migrate(envs[0][2])  # once, before two processes would both try
        began = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            starting = [
                pool.submit(start_server, port, data_dir, env, backend_only=True, timeout=START_TIMEOUT_S)
                for port, data_dir, env in envs
            ]
            servers: list[Server] = []
            errors = []
            for future in starting:
                try:
                    servers.append(future.result())
                except RuntimeError as error:
                    errors.append(str(error))
        start_seconds = time.monotonic() - began
        engine = make_engine(url)
        try:
            assert not errors, "\n".join(errors)
            print(f"\ntwo backends started in {start_seconds:.1f} s")
            yield Cluster(servers, engine, smtp, utcnow(), start_seconds)
        finally:
            for server in servers:
                server.stop()
            engine.dispose()


def test_each_slot_is_evaluated_once_across_both_instances(cluster: Cluster) -> None:
    began = time.monotonic()
    time.sleep(5 * EVERY + 0.5)
    runs = _runs(cluster.engine, since=cluster.up_at)
    slots = [_slot(r.started_at) for r in runs]
    holders = {r.holder for r in runs}
    print(f"{len(runs)} runs in {time.monotonic() - began:.1f} s, slots {slots}, holders {sorted(holders)}")
    assert len(runs) >= 4, [(r.holder, r.started_at, r.outcome) for r in runs]
    assert len(slots) == len(set(slots)), "a slot was evaluated twice"
    assert slots == list(range(slots[0], slots[0] + len(slots))), f"a slot was skipped: {slots}"
    # The last run may still be going on.
    assert {r.outcome for r in runs[:-1]} == {"ok"} and runs[-1].outcome in {"ok", "running"}
    # Both holders are among our two instances (and those instances are distinct processes).
    assert {cluster.server_of(h).port for h in holders} <= {s.port for s in cluster.servers}
    lease = _lease(cluster.engine)
    assert lease is not None and lease.due_at is not None
    last_done = slots[-1] if _runs(cluster.engine, since=runs[-1].started_at)[0].outcome == "ok" else slots[-2]
    assert _slot(lease.due_at) >= last_done + 1  # the next slot may run from the end of the last completed one


def _shop_whose_conversions_stopped(engine: Engine) -> tuple[str, str]:
    """An account with an active campaign (its v1 published), three sessions in the last hour and no order; then a
    rule "no paid order for 1 h while at least 1 session arrived" on it. Returns (rule id, owner e-mail)."""
    with Session(engine, expire_on_commit=False) as session:
        account, owner, actor = make_owner(session, name="Cluster shop")
        made = campaigns.create_campaign(session=session, actor=actor, name="Spring sale", channel="meta")
        campaigns.publish_draft(session=session, actor=actor, campaign_public_id=made.public_id)
        session.commit()
        campaign = session.exec(select(Campaign).where(Campaign.public_id == made.public_id)).one()
        now = utcnow()
        for n in range(3):
            at = now - timedelta(minutes=10 + n)
            session.add(
                VisitSession(
                    account_id=account.id or 0,
                    session_key=f"cluster-{n}",
                    visitor_key=f"visitor-{n}",
                    started_at=at,
                    last_event_at=at,
                    event_count=1,
                    campaign_id=campaign.id,
                    campaign_version_id=campaign.active_version_id,
                )
            )
        session.commit()  # the sessions first: a rule that sees none would only be held back for volume
        rule = alerts.create_rule(
            session=session,
            actor=actor,
            data={
                "name": "Checkout broken?",
                "campaign": made.public_id,
                "metric": "conversions_stopped",
                "stopped_hours": 1,
                "min_sessions": 1,
                "recipient_emails": "ops@shop.test",
            },
        )
        return rule.public_id, owner.email


def _fired(engine: Engine) -> list[AlertEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AlertEvent).where(AlertEvent.kind == "fired")).all())


def test_the_lease_holder_killed_mid_email_is_replaced_after_its_lease_and_the_email_is_sent(
    cluster: Cluster,
) -> None:
    began = time.monotonic()
    smtp = cluster.smtp
    smtp.clear()
    smtp.hold()
    _, owner_email = _shop_whose_conversions_stopped(cluster.engine)

    # The next slot's evaluation fires the alert and its holder starts sending the e-mail: the server holds DATA.
    assert smtp.held.wait(4 * EVERY + 5), "no alert e-mail reached the SMTP server"
    [event] = _fired(cluster.engine)
    assert (event.email_status, event.email_attempts) == ("sending", 1)
    lease = _lease(cluster.engine)
    assert lease is not None and lease.expires_at > utcnow()
    victim = cluster.server_of(lease.holder)
    [survivor] = [s for s in cluster.servers if s is not victim]
    [victim_run] = [r for r in _runs(cluster.engine) if r.outcome == "running"]
    assert victim_run.holder == lease.holder

    victim.stop(signal.SIGKILL)  # the whole process group, mid-send; it no longer renews its lease
    killed = time.monotonic()
    lease = _lease(cluster.engine)
    assert lease is not None and lease.holder == victim_run.holder
    dead_until = lease.expires_at
    smtp.release()

    # The survivor is refused until the lease expires, then runs the job and sends the e-mail.
    _wait_until(
        lambda: _fired(cluster.engine)[0].email_status == "sent", LEASE + 3 * EVERY + 10, "the e-mail to be sent"
    )
    took_over = time.monotonic() - killed
    [event] = _fired(cluster.engine)
    assert event.email_attempts == 2
    assert [a["outcome"] for a in event.details["attempts"]] == ["interrupted", "sent"]
    assert event.recipients == sorted({"ops@shop.test", owner_email})
    # The survivor's message was accepted (its attempt reads "sent"). The held one died with its connection
    # (aiosmtpd drops a DATA whose client went away), unless the release outran the news of the disconnection.
    messages = smtp.wait_for(1, timeout=10)
    assert 1 <= len(messages) <= 2 and {m["Subject"] for m in messages} == {event.details["subject"]}

    # Nothing ran while the dead holder's lease lasted; the survivor ran next, then every later slot once.
    # Two more slots after the takeover's, each fired into up to EVERY / 4 (at least 1 s) after it starts.
    time.sleep(3 * EVERY + 1)
    later = [r for r in _runs(cluster.engine) if r.started_at > victim_run.started_at]
    assert later, "nobody took over"
    assert all(r.holder != victim_run.holder for r in later)
    assert {survivor.port} == {cluster.server_of(r.holder).port for r in later}
    assert later[0].started_at >= dead_until, (later[0].started_at, dead_until)
    assert later[0].outcome == "ok"
    victim_after = [r for r in _runs(cluster.engine) if r.id == victim_run.id]
    assert victim_after[0].outcome == "interrupted"  # marked by the survivor when it took the lease
    slots = [_slot(r.started_at) for r in _runs(cluster.engine)]
    assert len(slots) == len(set(slots)), f"a slot was evaluated twice: {slots}"
    assert len(later) >= 3 and [_slot(r.started_at) for r in later[1:]] == list(
        range(_slot(later[1].started_at), _slot(later[1].started_at) + len(later) - 1)
    )
    assert len(_fired(cluster.engine)) == 1  # the survivor's evaluation saw the alert already firing
    print(
        f"took over and sent {took_over:.1f} s after the kill (lease {LEASE} s, slots {EVERY} s); "
        f"kill case {time.monotonic() - began:.1f} s; {len(messages)} message(s) delivered; runs after the kill: "
        f"{[(r.started_at.strftime('%H:%M:%S.%f')[:-3], r.outcome) for r in later]}"
    )
