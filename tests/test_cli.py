"""The operator CLI in process: its table of subcommands is what argparse offers, each prints what scripts read
(the account's slug and id, a key, a pixel id, …), a refusal exits 2 with ``error: …`` on stderr, and bad
arguments exit 2 through argparse."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from app import cli
from app.models import User

PASSWORD = "cli-password-0123"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_subcommands_are_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    names = [s.name for s in cli.SUBCOMMANDS]
    assert names == ["migrate", "create-account", "create-key", "connect-stripe", "create-pixel", "rebuild-rollups",
                     "reencrypt-credentials", "make-staff", "seed-demo", "evaluate-alerts", "jobs"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    assert "{" + ",".join(names) + "}" in capsys.readouterr().out


def test_accounts_keys_pixels_and_staff_through_the_cli(db: Session, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "create-account", "--name", "Cli Shop", "--email", "cli@example.com",
                        "--password", PASSWORD, "--timezone", "Europe/Paris")  # fmt: skip
    match = re.fullmatch(r"account slug=(cli-shop) id=(acc_\w+)\n", out)
    assert code == 0 and match is not None
    slug, public_id = match.groups()

    code, out, _ = _run(capsys, "create-key", "--account", public_id, "--kind", "secret", "--label", "server")
    assert code == 0 and out.startswith("ps_sk_") and out.count("\n") == 1
    code, out, _ = _run(capsys, "create-key", "--account", slug, "--kind", "publishable",
                        "--origin", "https://example.com")  # fmt: skip
    assert code == 0 and out.startswith("ps_pk_")

    code, out, _ = _run(capsys, "create-pixel", "--account", slug, "--provider", "ga4", "--name", "GA4",
                        "--setting", "measurement_id=G-CLI12345", "--secret", "api_secret=cli-secret",
                        "--events", "purchase, renewal", "--default")  # fmt: skip
    assert code == 0 and re.fullmatch(r"px_\w+\n", out), out

    code, out, _ = _run(capsys, "rebuild-rollups", "--account", slug)
    assert code == 0 and out == "cli-shop: 0 traffic day(s), 0 sales day(s), 0 customer row(s) recomputed\n"

    code, out, _ = _run(capsys, "make-staff", "--email", "cli@example.com")
    assert (code, out) == (0, "cli@example.com is now staff\n")
    db.expire_all()
    assert db.exec(select(User).where(User.email == "cli@example.com")).one().is_staff


def test_a_refusal_exits_2_and_says_why(db: Session, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "create-key", "--account", "no-such-shop", "--kind", "secret")
    assert (code, out) == (2, "") and err.startswith("error: ")
    _run(capsys, "create-account", "--name", "Pairs", "--email", "pairs@example.com", "--password", PASSWORD)
    code, out, err = _run(capsys, "create-pixel", "--account", "pairs", "--provider", "meta", "--setting", "pixel_id")
    assert (code, out, err) == (2, "", "error: --setting takes NAME=VALUE, got 'pixel_id'.\n")


def test_bad_arguments_exit_2_through_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["create-key", "--account", "x", "--kind", "public"], ["make-staff"], ["no-such-command"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2, argv
    assert "invalid choice: 'public'" in capsys.readouterr().err


def test_rebuild_rollups_includes_events_still_waiting_for_derivation(
    capsys: pytest.CaptureFixture[str], db: Session
) -> None:
    """Events the server stored a moment ago may not be derived yet: the rebuild derives them first, so the traffic
    rollup counts their session (a script that posts events then rebuilds, as the browser tests do, sees them)."""
    from app.models import TrafficRollup
    from app.services import ingest
    from tests.utils.events import DESKTOP_UA, event
    from tests.utils.factories import make_owner

    account, _, _ = make_owner(db)
    ctx = ingest.IngestContext(account_id=account.id or 0, source=ingest.Source.BROWSER, user_agent=DESKTOP_UA)
    ingest.write_rows(db, account.id or 0, ingest.prepare([event(visitor_id="v", session_id="s")], ctx)[1])
    db.commit()  # the writer's transaction; its derivation pass has not run
    code, out, _ = _run(capsys, "rebuild-rollups", "--account", account.slug)
    assert code == 0 and out.endswith(": 1 traffic day(s), 0 sales day(s), 0 customer row(s) recomputed\n"), out
    assert sum(row.sessions for row in db.exec(select(TrafficRollup))) == 1
