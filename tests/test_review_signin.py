"""Served beyond this machine, the review server has coders sign in with keys stored hashed; a
hand-made request gets a 400, never a 500 (SYNTHETIC project, the same as test_review_web's)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.review.server import create_app, serve
from nlp_theming.review.web import SIGNIN_COOKIE, SIGNIN_TRIES
from nlp_theming.store.decisions import decisions_frame
from tests.test_review_web import _token, project  # noqa: F401  (the fixture)


def _key(project: Path, name: str) -> str:  # noqa: F811
    result = CliRunner().invoke(main, ["coders", "add", str(project), name])
    assert result.exit_code == 0, result.output
    return result.output.strip().rsplit(" ", 1)[1]


def test_keys_are_stored_hashed_and_revocable(project: Path) -> None:  # noqa: F811
    key = _key(project, "ana")
    with Project(project) as p:
        stored = p.con.execute("SELECT salt, hash FROM coder_keys").fetchall()
        assert len(stored) == 1 and key.encode() not in bytes(stored[0][1]) and key.encode() not in bytes(stored[0][0])
        assert p.coders_with_keys() == ["ana"]
        with pytest.raises(ValueError, match="reserved"):
            p.add_coder_key("machine")
    assert CliRunner().invoke(main, ["coders", "remove", str(project), "ana"]).output.startswith("revoked 1")
    with Project(project) as p:
        assert p.coders_with_keys() == []


def test_beyond_this_machine_coders_sign_in_and_decide_as_themselves(project: Path) -> None:  # noqa: F811
    key = _key(project, "ana")
    client = create_app(project, local_only=False).test_client()
    first = client.get("/review", headers={"Host": "192.168.1.20:8000"})
    assert first.status_code == 302 and "/signin" in first.headers["Location"]
    page = client.get("/signin").get_data(as_text=True)
    token = _token(page)
    # the coder cookie of the local mode names nobody here
    client.set_cookie("nlp_theming_coder", "mallory")
    assert client.get("/review").status_code == 302
    wrong = client.post("/signin", data={"csrf_token": token, "coder": "ana", "key": "guess"})
    assert wrong.status_code == 302 and SIGNIN_COOKIE not in wrong.headers.get("Set-Cookie", "")
    right = client.post("/signin", data={"csrf_token": token, "coder": "ana", "key": key, "next": "/review"})
    cookie = right.headers["Set-Cookie"]
    assert right.status_code == 302 and SIGNIN_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    html = client.get("/review?per=suggestion").get_data(as_text=True)
    item = re.search(r'name="key" value="([^"]+)"', html).group(1)
    assert client.post("/decide", data={"csrf_token": _token(html), "key": item, "action": "accept"}).status_code == 302
    with Project(project) as p:
        assert list(decisions_frame(p.con).coder) == ["ana"]  # not "mallory"
        p.revoke_coder_keys("ana")
    assert client.get("/review").status_code == 302  # a revoked key ends the session at once


def test_sign_in_is_rate_limited(project: Path) -> None:  # noqa: F811
    key = _key(project, "ana")
    client = create_app(project, local_only=False).test_client()
    token = _token(client.get("/signin").get_data(as_text=True))
    for _ in range(SIGNIN_TRIES):
        assert client.post("/signin", data={"csrf_token": token, "coder": "ana", "key": "x"}).status_code == 302
    # even the right key waits once an address has failed too often
    assert client.post("/signin", data={"csrf_token": token, "coder": "ana", "key": key}).status_code == 429


def test_numbers_out_of_range_are_a_bad_request_not_a_crash(project: Path) -> None:  # noqa: F811
    client = create_app(project, coder="ana").test_client()
    token = _token(client.get("/review?per=suggestion").get_data(as_text=True))
    huge = "9" * 40
    attempts = ({"key": f"{huge}:Boards", "action": "accept"}, {"key": "1:Boards", "action": "accept", "run_id": huge})
    for data in attempts:
        response = client.post("/decide", data={"csrf_token": token, **data})
        assert response.status_code in (302, 400), data
    assert client.post("/passage", data={"csrf_token": token, "segment_id": huge, "do": "none"}).status_code < 500
    assert client.get(f"/passage/{huge}").status_code in (400, 404)


def test_serving_beyond_this_machine_needs_keys_and_runs_a_production_server(project: Path) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="coders add"):
        serve(project, host="0.0.0.0")
    _key(project, "ana")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "nlp_theming.cli", "serve", str(project), "--host", "0.0.0.0",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert "Reviewing" in line and "sign in" in proc.stdout.readline()
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/signin", timeout=5) as response:
                    assert response.status == 200 and response.headers["Server"] == "nlp-theming"
                    break
            except urllib.error.URLError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not answer")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
