"""Tokens, classification levels and the publication log: library and CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from geobase.catalog import access, publications
from geobase.classification import may_see
from geobase.errors import InvalidToken, NotFoundError, UnknownClassification, ValidationError
from tests.conftest import run_cli


def test_classification_order_fails_closed():
    assert may_see("public", "public")
    assert may_see("internal", "restricted")
    assert not may_see("restricted", "internal")
    assert not may_see(None, "restricted")  # missing classification: never shown
    assert not may_see("secret", "restricted")  # misspelt: never shown
    with pytest.raises(UnknownClassification):
        may_see("public", "top-secret")


def test_tokens_are_stored_hashed_shown_once_and_revocable(workspace):
    _, secret = access.create_token(workspace.store, "planning", "internal", created_by="张三")
    assert secret.startswith("gbt_") and len(secret) == 47
    with workspace.store.read() as tx:
        stored = tx.query("SELECT * FROM access_tokens")
    assert secret not in json.dumps(stored)
    assert stored[0]["token_hash"] == access.hash_token(secret)
    assert access.verify_token(workspace.store, secret).max_classification == "internal"
    with pytest.raises(ValidationError, match="active token named"):
        access.create_token(workspace.store, "planning")
    access.revoke_token(workspace.store, "planning")
    with pytest.raises(InvalidToken, match="revoked"):
        access.verify_token(workspace.store, secret)
    with pytest.raises(NotFoundError):
        access.revoke_token(workspace.store, "planning")
    with pytest.raises(InvalidToken, match="malformed"):
        access.verify_token(workspace.store, "gbt_short")
    with pytest.raises(InvalidToken, match="not known"):
        access.verify_token(workspace.store, "gbt_" + "x" * 43)
    with pytest.raises(ValidationError):
        access.create_token(workspace.store, "bad name/../", "internal")
    with pytest.raises(UnknownClassification):
        access.create_token(workspace.store, "ok", "secret")
    assert [t.active for t in access.list_tokens(workspace.store)] == [False]


def release(store, **kwargs):
    fields = {
        "subject": "catalogue",
        "kind": "catalogue",
        "classification": "public",
        "reviewer": "李审",
        "review_decision": "approved",
        "review_date": "2021-01-05",
        "released_by": "王发",
    }
    return publications.record_publication(store, **{**fields, **kwargs})


def test_record_publication_checks_the_review(workspace):
    row = release(workspace.store, released_at="2021-01-06T09:30:00+08:00", notes="首次发布")
    assert row.released_at == "2021-01-06T01:30:00.000Z"
    assert row.review_date == dt.date(2021, 1, 5) and row.notes == "首次发布"
    assert publications.publication_log(workspace.store) == [row]  # stored as returned
    with pytest.raises(ValidationError, match="does not allow a release"):
        release(workspace.store, review_decision="rejected")
    with pytest.raises(ValidationError, match="after the release"):
        release(workspace.store, review_date="2021-02-01", released_at="2021-01-20")
    with pytest.raises(ValidationError, match="kind"):
        release(workspace.store, kind="gossip")
    with pytest.raises(UnknownClassification):
        release(workspace.store, classification="confidential")
    with pytest.raises(ValidationError, match="reviewer is empty"):
        release(workspace.store, reviewer=" ")
    with pytest.raises(ValidationError, match="not a date"):
        release(workspace.store, review_date="yesterday")
    assert len(publications.publication_log(workspace.store)) == 1  # nothing partial


def test_cadence_quarterly_yearly_and_counts(workspace):
    s = workspace.store
    for day in ("2021-02-01", "2021-05-01", "2021-08-01", "2022-01-10", "2022-04-10"):
        release(s, released_at=day, review_date="2021-01-01")
    release(
        s, kind="imagery", subject="pyramid:dom", released_at="2021-06-01", review_date="2021-05-30"
    )
    release(s, kind="entities", released_at="2021-03-01", review_date="2021-02-01")
    release(
        s,
        kind="model3d",
        classification="restricted",
        released_at="2022-03-01",
        review_date="2022-02-01",
    )
    status = {c.kind: c for c in publications.check_cadence(s, as_of="2022-05-15")}
    assert status["catalogue"].missed == ("2021-Q4",)
    assert status["catalogue"].status == "missed"
    assert status["imagery"].missed == ()  # 2021 had one; 2022 is still running
    assert status["imagery"].status == "due" and status["imagery"].due_by == "2022-12-31"
    assert status["entities"].status == "due" and status["entities"].releases_in_period == 1
    assert status["model3d"].status == "ok"
    public = {
        c.kind: c for c in publications.check_cadence(s, as_of="2022-05-15", clearance="public")
    }
    assert public["model3d"].releases_in_period == 0
    ended = {c.kind: c for c in publications.check_cadence(s, as_of="2026-01-31")}
    assert ended["placenames"].status == "missed" and ended["placenames"].missed == ("0 of 2",)
    with pytest.raises(ValidationError):
        publications.check_cadence(s, period=("2025-01-01", "2021-01-01"))


def test_cli_token_and_publish(workspace):
    ws = ["--workspace", workspace.root]
    created = run_cli(["token", "create", "gis-team", "--max-classification", "restricted", *ws])
    assert created.exit_code == 0
    secret = created.stdout.strip()
    assert access.verify_token(workspace.store, secret).name == "gis-team"
    listed = run_cli(["token", "list", "--format", "json", *ws])
    assert json.loads(listed.stdout)[0]["name"] == "gis-team" and secret not in listed.stdout
    assert run_cli(["token", "revoke", "gis-team", *ws]).exit_code == 0
    again = run_cli(["token", "revoke", "gis-team", *ws])
    assert again.exit_code == 2 and "no active token" in again.stderr
    bad = run_cli(["token", "create", "x", "--max-classification", "secret", *ws])
    assert bad.exit_code == 2

    rec = run_cli(["publish", "record", "catalogue", "--kind", "catalogue", "--classification",
                   "public", "--reviewer", "李审", "--review-date", "2024-03-28", "--by", "王发",
                   "--at", "2024-03-30", "--format", "json", *ws])  # fmt: skip
    assert rec.exit_code == 0, rec.stderr
    assert json.loads(rec.stdout)["reviewer"] == "李审"
    refused = run_cli(["publish", "record", "catalogue", "--kind", "catalogue", "--classification",
                       "public", "--reviewer", "李审", "--decision", "rejected", "--review-date",
                       "2024-03-28", "--by", "王发", *ws])  # fmt: skip
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    log = run_cli(["publish", "log", "--format", "json", *ws])
    assert [r["subject"] for r in json.loads(log.stdout)] == ["catalogue"]
    check = run_cli(["publish", "check", "--as-of", "2024-05-01", "--format", "json", *ws])
    assert check.exit_code == 1  # quarters before 2024-Q1 were missed
    rows = {r["kind"]: r for r in json.loads(check.stdout)}
    assert rows["catalogue"]["last_release"] == "2024-03-30"
    assert "2021-Q1" in rows["catalogue"]["missed"]
    assert run_cli(["publish", "check", "--period", "2021", *ws]).exit_code == 2


def test_cli_serve_starts_and_answers(workspace, tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    geobase = Path(sys.executable).parent / "geobase"
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    proc = subprocess.Popen(
        [str(geobase), "serve", "--workspace", str(workspace.root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert json.loads(r.read())["status"] == "ok"
                    break
            except OSError:
                assert proc.poll() is None, "geobase serve exited"
                assert time.monotonic() < deadline, "geobase serve did not answer"
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode()
    bad = run_cli(["serve", "--workspace", workspace.root, "--port", "70000"])
    assert bad.exit_code == 2
