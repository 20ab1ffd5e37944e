"""The review page's views: a Flask blueprint of module-level functions.

Each view reads the request, calls the review library (:mod:`.actions`, :mod:`.queue`,
:mod:`.context`, :mod:`.status`) and renders a template; :func:`nlp_theming.review.server.create_app`
builds the app around it. Every page is rendered from the store on each request, and every
decision is its own transaction, so two coders in two browsers see each other's work on their
next page (unless blind) and a server killed at any moment loses nothing. Transcript text is
untrusted: Jinja autoescapes everything, the JavaScript never writes data as HTML, and the
Content-Security-Policy forbids inline script as a second line of defence.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import hmac
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pandas as pd
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response

from .. import store
from ..codebook import Codebook
from ..ingest.naming import name_speakers
from ..store.coders import check_key, key_coders
from ..store.decisions import MACHINE_CODERS, PENDING, DecisionError, all_coders, decisions_frame, nothing_applies
from ..store.documents import current_document, document_attributes, segment_with_document
from ..store.memos import MemoError
from ..store.runs import latest_run
from ..suggest import rerun_config, run_suggest
from ..textio import InputError
from ..transcript import LOW_CONFIDENCE
from . import actions, csrf
from .context import item_details
from .document import MEDIA_ATTRIBUTE, document_view
from .memos import memo, memo_records, memo_table, search_memos
from .queue import (
    ORDERS,
    STATUSES,
    QueueFilter,
    decision_item,
    describe,
    filter_values,
    parse_key,
    passage_rows,
    queue_page,
)
from .status import review_status

#: the review page reads this many items (passages) of its view: the item in focus and its neighbours
WINDOW = 200

bp = Blueprint("review", __name__)

MAX_NAME = 100  # characters of a speaker's name typed in the page
SIGNIN_COOKIE = "nlp_theming_signin"
SIGNIN_HOURS = 12  # a sign-in lasts a working day; a revoked key ends it at once
SIGNIN_TRIES = 5  # failed sign-ins from one address within SIGNIN_WINDOW seconds before it must wait
SIGNIN_WINDOW = 300
CODER_COOKIE = "nlp_theming_coder"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
ONE_YEAR = 365 * 24 * 3600
# Browsers drop tabs and newlines inside a URL (and trim spaces), so "/\t/evil.com" is "//evil.com".
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self';"
    " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# What /media serves: a recording's type by its extension; any other file is refused.
MEDIA_TYPES = {
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav", ".ogg": "audio/ogg",
    ".oga": "audio/ogg", ".opus": "audio/ogg", ".flac": "audio/flac", ".weba": "audio/webm",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg", ".mov": "video/quicktime",
}


@dataclass
class Settings:
    """One review app's settings and state (``app.extensions["nlp_theming"]``): apps never share it."""

    project: Path
    secret: bytes
    coder: str | None = None  # fixed by --coder: nobody is asked
    blind: bool = False
    local_only: bool = True  # refuse Host headers that are not this machine (DNS rebinding)
    signin: bool = False  # served beyond this machine: coders sign in with a key (store.coders)
    cache: dict = field(default_factory=dict)  # the run's suggestions with text and metadata: read once per run
    # the queue's reads go through one long-lived connection, whose temporary tables keep the
    # queue state (statuses, filtered documents) between requests; one request at a time uses it
    queue_con: sqlite3.Connection | None = None
    queue_lock: threading.Lock = field(default_factory=threading.Lock)
    failures: dict = field(default_factory=dict)  # client address -> times of its recent failed sign-ins
    lock: threading.Lock = field(default_factory=threading.Lock)


def settings() -> Settings:
    return current_app.extensions["nlp_theming"]


@contextmanager
def queue_reads() -> Iterator[sqlite3.Connection]:
    """The server's queue connection, held for one request's queue reads."""
    s = settings()
    with s.queue_lock:
        if s.queue_con is None:
            s.queue_con = store.connect(store.db_path(s.project), shared=True)
        yield s.queue_con


def _page(template: str, **context: object) -> str:
    return render_template(template, project=settings().project.name, **context)


def _text(body: str, status: int) -> Response:
    return Response(body, status, mimetype="text/plain")


# ---------------------------------------------------------------------------- every request


@bp.before_app_request
def open_request() -> Response | None:
    s = settings()
    if s.local_only and request.host.rsplit(":", 1)[0] not in LOCAL_HOSTS:
        return _text("This review server only answers on this machine (localhost).", 400)
    g.con = store.connect(store.db_path(s.project))  # the schema is known to exist (create_app checked)
    g.session_id = request.cookies.get(csrf.SESSION_COOKIE) or ""
    g.new_session = not g.session_id
    if g.new_session:
        g.session_id = csrf.new_session_id()
    g.csrf_token = csrf.token_for(s.secret, g.session_id)
    g.blind = s.blind
    if s.signin:
        # beyond this machine a coder is who signed in, never who a cookie says they are
        g.coder = signed_in(s.secret, request.cookies.get(SIGNIN_COOKIE), g.con)
        g.fixed_coder = True
        if g.coder is None and request.endpoint not in ("review.signin", "static"):
            if request.method == "POST":
                return _text("Sign in first.", 401)
            return redirect(url_for("review.signin", next=request.full_path))
    else:
        g.coder = s.coder or (request.cookies.get(CODER_COOKIE) or "").strip() or None
        g.fixed_coder = s.coder is not None
    if request.method == "POST":
        token = request.form.get(csrf.FIELD) or request.headers.get(csrf.HEADER)
        if g.new_session or not csrf.valid(s.secret, g.session_id, token):
            return _text("Refused: missing or wrong CSRF token. Reload the page and try again.", 403)
        if not csrf.same_origin(request.headers.get("Origin"), request.host):
            return _text("Refused: the request came from another site.", 403)
    if request.endpoint not in ("review.coder", "review.signin", "static") and g.coder is None:
        if request.method == "POST":
            return _text("Choose a coder name first.", 400)
        return redirect(url_for("review.coder", next=request.full_path))
    return None


@bp.after_app_request
def security_headers(response: Response) -> Response:
    # A new session id is only handed out on a page view: a refused cross-site POST must not
    # replace the cookie (that would void the tokens of the coder's open tabs).
    if getattr(g, "new_session", False) and request.method == "GET":
        # Lax on this machine, so a link from a summary opens the page in the same session;
        # Strict when served to a network, where a link from another site must carry nothing
        response.set_cookie(csrf.SESSION_COOKIE, g.session_id, max_age=ONE_YEAR, httponly=True,
                            samesite="Strict" if settings().signin else "Lax")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"  # the back button shows the log as it is now
    return response


@bp.teardown_app_request
def close_request(_exc: BaseException | None) -> None:
    con = g.pop("con", None)
    if con is not None:
        con.close()


@bp.app_errorhandler(OverflowError)
def out_of_range(_exc: OverflowError) -> Response:
    # a number too large for the store (a hand-made request): the request's fault, not a crash
    return _text("A number in the request is out of range.", 400)


def sign(secret: bytes, coder: str, issued: int) -> str:
    body = f"{issued}|{coder}"
    return body + "|" + hmac.new(secret, b"signin|" + body.encode("utf-8"), hashlib.sha256).hexdigest()


def signed_in(secret: bytes, cookie: str | None, con: sqlite3.Connection) -> str | None:
    """The coder a sign-in cookie names, if it is genuine, recent, and their key is still in force."""
    body = (cookie or "").rpartition("|")[0]
    issued, _, coder = body.partition("|")
    try:
        issued_at = int(issued)
    except ValueError:
        return None
    if not hmac.compare_digest(sign(secret, coder, issued_at), cookie or ""):
        return None
    if not 0 <= time.time() - issued_at <= SIGNIN_HOURS * 3600 or coder not in key_coders(con):
        return None
    return coder


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Response | str | tuple[str, int]:
    """Sign in with the key `nlp-theming coders add` gave (only when served beyond this machine)."""
    s = settings()
    target = safe_next(request.values.get("next"))
    if not s.signin:
        return redirect(target)
    if request.method == "GET":
        return _page("signin.html", next=target)
    client = request.remote_addr or "?"
    with s.lock:
        recent = [t for t in s.failures.get(client, []) if time.time() - t < SIGNIN_WINDOW]
        s.failures[client] = recent
    if len(recent) >= SIGNIN_TRIES:
        return _text(f"Too many failed sign-ins from this address; wait {SIGNIN_WINDOW // 60} minutes.", 429)
    coder, key = (request.form.get("coder") or "").strip(), (request.form.get("key") or "").strip()
    if not coder or not key or len(key) > 200 or not check_key(g.con, coder, key):
        with s.lock:
            s.failures.setdefault(client, []).append(time.time())
        flash("That name and key do not match a coder of this project.", "error")
        return redirect(url_for("review.signin", next=target))
    response = redirect(target)
    response.set_cookie(SIGNIN_COOKIE, sign(s.secret, coder, int(time.time())), max_age=SIGNIN_HOURS * 3600,
                        httponly=True, samesite="Strict")
    return response


@bp.app_errorhandler(ValueError)
def known_problem(exc: ValueError) -> tuple[str, int]:
    # known problems (no suggest run yet, no codebook) are a page with the remedy, not a traceback
    return _page("message.html", title="Nothing to review yet", message=str(exc)), 409


# ---------------------------------------------------------------------------- pages and actions


@bp.get("/")
def index() -> Response:
    return redirect(url_for("review.review"))


@bp.route("/coder", methods=["GET", "POST"])
def coder() -> Response | str:
    target = safe_next(request.values.get("next"))
    if settings().signin:  # the signed-in coder it is
        return redirect(target)
    if request.method == "POST":
        name = (request.form.get("coder") or "").strip()
        if not name or len(name) > 80:
            flash("Type your name (up to 80 characters).", "error")
            return redirect(url_for("review.coder", next=target))
        if name.lower() in MACHINE_CODERS:
            flash(f"{name!r} is reserved: the machine is never a coder of record.", "error")
            return redirect(url_for("review.coder", next=target))
        response = redirect(target)
        response.set_cookie(CODER_COOKIE, name, max_age=ONE_YEAR, httponly=True, samesite="Lax")
        return response
    known = [] if g.blind else all_coders(g.con)
    return _page("coder.html", known=known, next=target)


@bp.get("/review")
def review() -> str:
    return review_page(g.con, request.args)


@bp.post("/decide")
def decide() -> Response:
    key, back = request.form.get("key", ""), filters_from(request.form.get("back", ""))
    action = request.form.get("action", "")
    try:
        segment_id, code = parse_key(key)
        run_id = request.form.get("run_id", type=int)
        if action == "add":  # stay on the item: its suggestion still wants a decision
            added = request.form.get("new_code", "")
            actions.add(g.con, g.coder, segment_id, added, run_id)
            flash(f"Added {added}.", "ok")
            return redirect(url_for("review.review", **back, item=key))
        actions.decide(g.con, g.coder, action, segment_id, code, request.form.get("new_code") or None, run_id)
    except (DecisionError, ValueError) as exc:
        flash(str(exc), "error")
        return redirect(url_for("review.review", **back, item=key))
    return redirect(url_for("review.review", **back, item=request.form.get("next") or key))


@bp.post("/passage")
def passage() -> Response | tuple[str, int] | str:
    """A decision on one passage, from the transcript view (``document`` set) or the review page.

    ``do``: ``accept:<code>`` or ``reject:<code>`` (one suggestion), ``rest`` (reject every
    suggestion not decided yet), ``none`` (no code applies), ``code:<code>`` (apply any code to the
    selection ``start``-``end``, or to the whole passage without one), ``adjust:<code>`` (move that
    code's span to ``start``-``end``), ``remove:<code>`` (take the code off). A fetch() call
    (header ``X-Requested-With: fetch``) gets the changed passages' HTML back instead of a
    redirect: no page reload."""
    segment_id = request.form.get("segment_id", type=int)
    run_id = request.form.get("run_id", type=int)
    do, document_name = request.form.get("do", ""), request.form.get("document", "")
    verb, _, code = do.partition(":")
    code = code or request.form.get("code", "")
    fetched = request.headers.get("X-Requested-With") == "fetch"
    start, end = request.form.get("start", type=int), request.form.get("end", type=int)
    message, moves_on, touched = "", False, [segment_id]
    try:
        if segment_id is None:
            raise DecisionError("no passage named")
        if verb == "accept" and code:
            actions.accept(g.con, g.coder, segment_id, code, run_id)
            message = f"Accepted {code}."
        elif verb == "reject" and code:
            actions.reject(g.con, g.coder, segment_id, code, run_id)
            message = f"Rejected {code}."
        elif do == "rest":
            n = len(actions.reject_rest(g.con, g.coder, segment_id, run_id))
            message, moves_on = f"Rejected the other {n} suggestion{'' if n == 1 else 's'}.", True
        elif do == "none":
            actions.no_code(g.con, g.coder, segment_id)
            message, moves_on = "No code applies: recorded.", True
        elif verb == "code" and code:
            if start is None or end is None:
                actions.add(g.con, g.coder, segment_id, code, run_id)
                message = f"Coded the passage {code}."
            else:
                ids = actions.code_span(g.con, g.coder, segment_id, start, end, code)
                touched = _segments_of(ids)
                message = f"Coded the selection {code}" + (f" ({len(ids)} passages)." if len(ids) > 1 else ".")
        elif verb == "adjust" and code:
            if start is None or end is None:
                raise DecisionError("select the new span in the text first")
            touched = _segments_of(actions.adjust_span(g.con, g.coder, segment_id, code, start, end))
            message = f"Span of {code} adjusted."
        elif verb == "remove" and code:
            touched = _segments_of(actions.remove_code(g.con, g.coder, segment_id, code))
            message = f"Removed {code}."
        else:
            raise DecisionError(f"unknown passage decision {do!r} (accept:<code>, reject:<code>, rest, none, "
                                "code:<code>, adjust:<code>, remove:<code>)")
    except (DecisionError, ValueError) as exc:
        if fetched:
            return _text(str(exc), 409)
        flash(str(exc), "error")
        message = ""
    if fetched:
        return fragments(touched, message, segment_id, request.form.get("next", type=int) if moves_on else None)
    if message:
        flash(message, "ok")
    if document_name:
        target = request.form.get("next", type=int) if moves_on else segment_id
        return redirect(url_for("review.document", name=document_name, segment=target or segment_id)
                        + f"#s-{target or segment_id}")
    back = filters_from(request.form.get("back", ""))
    key = request.form.get("key") or None
    return redirect(url_for("review.review", **back, item=(request.form.get("next") or key) if moves_on else key))


def _segments_of(decision_ids: list[int]) -> list[int]:
    """The segments the decisions of one batch name, in order."""
    log = decisions_frame(g.con, g.coder)
    return sorted({int(s) for s in log[log.id.isin(decision_ids)].segment_id.dropna()})


def fragments(segment_ids: list[int | None], message: str, focus: int | None,
              move_to: int | None = None) -> str | tuple[str, int]:
    """The changed passages of one document, rendered as the page renders them, in one wrapper that
    says what happened (``data-message``), which passage is in focus and where to move on."""
    ids = [int(s) for s in segment_ids if s is not None]
    row = segment_with_document(g.con, ids[0]) if ids else None
    if row is None:
        return _text("no such passage", 404)
    view = document_view(g.con, row["document"], g.coder, g.blind)
    found = [p for p in view.passages if p.segment_id in ids]
    if not found:
        return _text(f"the passage is not in the current version of {row['document']!r}", 404)
    focus = focus if focus in {p.segment_id for p in found} else found[0].segment_id
    return render_template("fragments.html", view=view, found=found, focus=focus, message=message,
                           move_to=move_to, next_of=_next_pending(view.passages),
                           counts=view.counts)


@bp.get("/document/<path:name>")
def document(name: str) -> str | tuple[str, int]:
    """The whole transcript, its suggestions and codes; ``segment``: the passage in focus."""
    try:
        view = document_view(g.con, name, g.coder, g.blind)
    except KeyError:
        return _page("message.html", title="No such document",
                     message=f"There is no document called {name!r} in this project."), 404
    focus = request.args.get("segment", type=int)
    passages = view.passages
    if focus is None or view.passage(focus) is None:
        focus = next((p.segment_id for p in passages if p.pending), None)
    try:
        tree = codebook_tree(actions.latest_codebook(g.con))
    except ValueError:  # no codebook yet: nothing to code with
        tree = []
    kind = MEDIA_TYPES.get(Path(view.media).suffix.lower(), "") if view.media else ""
    return _page("document.html", view=view, focus=focus, next_of=_next_pending(passages), tree=tree,
                 media_kind=kind.split("/")[0], low_confidence=LOW_CONFIDENCE)


@bp.post("/speakers")
def speakers() -> Response:
    """Name a transcript's speakers for the whole document and mark the interviewer, kept like the
    manifest's ``interviewer`` column: ``label``/``name`` pairs rename diariser labels
    (``SPEAKER_00`` to ``Interviewer``); ``alternate`` names turns that have no label at all, in
    turn (a recording transcribed without a diariser), the first of them the interviewer."""
    form = request.form
    name = form.get("document", "")
    names = {old: new.strip()[:MAX_NAME] for old, new in zip(form.getlist("label"), form.getlist("name"), strict=False)
             if new.strip() and new.strip() != old}
    alternate = [a.strip()[:MAX_NAME] for a in form.get("alternate", "").split(",") if a.strip()]
    interviewer = form.get("interviewer") or None
    interviewer = names.get(interviewer, interviewer) if interviewer else (alternate[0] if alternate else None)
    try:
        done = name_speakers(g.con, name, interviewer, names or None, alternate=alternate or None)
        flash(f"Speakers named ({done.changed} turns changed); the interviewer: {done.interviewer or 'none'}.", "ok")
    except (InputError, ValueError) as exc:
        flash(str(exc), "error")
    return redirect(url_for("review.document", name=name))


@bp.get("/passage/<int:segment_id>")
def passage_fragment(segment_id: int) -> str | tuple[str, int]:
    """One passage of the transcript view, in focus, as an HTML fragment (what fetch() swaps in)."""
    row = segment_with_document(g.con, segment_id)
    if row is None:
        return _text(f"no segment {segment_id}", 404)
    view = document_view(g.con, row["document"], g.coder, g.blind)
    found = view.passage(segment_id)
    if found is None:
        return _text(f"segment {segment_id} is not in the current version of {row['document']!r}", 404)
    # ``also``: the passage that had the focus, rendered again without its focus controls
    also = view.passage(request.args.get("also", type=int) or -1)
    return render_template("fragments.html", view=view, found=[found] + ([also] if also and also is not found else []),
                           focus=segment_id, message="", move_to=None, next_of=_next_pending(view.passages),
                           counts=view.counts)


def _next_pending(passages: list) -> dict[int, int | None]:
    """Each passage's next passage with a suggestion still to decide (wrapping round), for "move on"."""
    pending = [i for i, p in enumerate(passages) if p.pending]
    out: dict[int, int | None] = {}
    for i, p in enumerate(passages):
        later = bisect.bisect_right(pending, i)
        nxt = pending[later] if later < len(pending) else (pending[0] if pending else None)
        out[p.segment_id] = passages[nxt].segment_id if nxt is not None else None
    return out


@bp.post("/adjust")
def adjust() -> Response:
    key, back = request.form.get("key", ""), filters_from(request.form.get("back", ""))
    try:
        segment_id, code = parse_key(key)
        start, end = request.form.get("start", type=int), request.form.get("end", type=int)
        if start is None or end is None:
            raise DecisionError("select the new span in the text first")
        actions.adjust(g.con, g.coder, segment_id, start, end, code)
        flash("Boundaries adjusted.", "ok")
    except (DecisionError, ValueError) as exc:
        flash(str(exc), "error")
    return redirect(url_for("review.review", **back, item=key))


@bp.post("/undo")
def undo() -> Response:
    back = filters_from(request.form.get("back", ""))
    document_name = request.form.get("document", "")
    undone = actions.undo(g.con, g.coder)
    if request.headers.get("X-Requested-With") == "fetch":
        # the transcript view: the passages the undone decisions were on, as they are now
        if undone.empty:
            return _text("Nothing left to undo.", 409)
        what = f"{len(undone)} decisions (a batch)" if len(undone) > 1 else describe(undone.iloc[-1])
        segments = [int(x) for x in undone.segment_id.dropna()]
        if not segments:
            return _text(f"Undone: {what} (not on a passage).", 200)
        return fragments(segments, f"Undone: {what}.", segments[-1])
    if undone.empty:
        flash("Nothing left to undo.", "error")
        if document_name:
            return redirect(url_for("review.document", name=document_name))
        return redirect(url_for("review.review", **back, item=request.form.get("key") or None))
    last = undone.iloc[-1]
    what = f"{len(undone)} decisions (a batch)" if len(undone) > 1 else describe(last)
    flash(f"Undone: {what}.", "ok")
    if document_name:
        segment = None if pd.isna(last.get("segment_id")) else int(last["segment_id"])
        anchor = f"#s-{segment}" if segment is not None else ""
        return redirect(url_for("review.document", name=document_name, segment=segment) + anchor)
    return redirect(url_for("review.review", **back, item=decision_item(last)))


@bp.route("/bulk", methods=["GET", "POST"])
def bulk() -> Response | str:
    """Bulk accept (scores at or above) or bulk reject (at or below), always previewed first.
    The form's ``min_score`` is the bound either way."""
    back = filters_from(request.values.get("back", ""))
    theme = request.values.get("theme", "")
    action = request.values.get("action", "accept")
    action = action if action in actions.BULK_ACTIONS else "accept"
    try:
        score = float(request.values.get("min_score") or ("0.8" if action == "accept" else "0.2"))
    except ValueError:
        score = 2.0 if action == "accept" else -1.0  # matches nothing; the page says so
    filters = {k: back.get(k) or None for k in ("site", "role", "document")}
    past = "Accepted" if action == "accept" else "Rejected"
    if request.method == "POST":
        # decide exactly what the preview showed: same run, same items, or nothing
        run_id, digest = request.form.get("run_id", type=int), request.form.get("digest", "")
        count = request.form.get("count", type=int)
        try:
            if not theme or run_id is None or not digest:
                raise DecisionError(f"the bulk {action} came without its preview; open the preview again")
            ids = actions.bulk_decide(g.con, g.coder, action, theme, score, run_id=run_id, expected=digest, **filters)
        except DecisionError as exc:
            flash(f"{exc}" + (f" (the preview showed {count})." if count is not None else "."), "error")
            return redirect(url_for("review.bulk", theme=theme, min_score=request.form.get("min_score", ""),
                                    action=action, back=urlencode(back)))
        bound = "at least" if action == "accept" else "at most"
        flash(f"{past} {len(ids)} suggestions of {theme} scoring {bound} {score:.2f} (u undoes them all).", "ok")
        return redirect(url_for("review.review", **back))
    bound = {"min_score": score} if action == "accept" else {"max_score": score}
    with queue_reads() as con:
        todo = queue_page(con, g.coder, QueueFilter.of("score", theme=theme, status=PENDING, per="suggestion",
                                                       **bound, **filters), cache=settings().cache).items
    if action == "reject":
        todo = todo.iloc[::-1]  # the lowest scores, the surest rejections, first
    run_id = int(todo.run_id.iloc[0]) if not todo.empty else latest_run(g.con)
    return _page("bulk.html", theme=theme, min_score=score, action=action, todo=todo, back=urlencode(back),
                 filters=filters, run_id=run_id, digest=actions.bulk_digest(todo.key))


@bp.post("/resuggest")
def resuggest() -> Response:
    """Suggest again with the latest run's settings, learning from every decision so far (the
    embeddings are cached: only the matcher runs again)."""
    # a page waits for its answer: reuse the encoder as it is rather than fine-tune a new one
    summary = run_suggest(g.con, dataclasses.replace(rerun_config(g.con), fine_tune=0.0))
    flash(f"Suggestions updated: run {summary.run_id} ({summary.status}), learnt from {summary.n_labeled} decided"
          f" segments [{summary.seconds:.1f}s].", "ok")
    return redirect(url_for("review.status"))


@bp.get("/status")
def status() -> str:
    with queue_reads() as con:  # its temporary tables hold the statuses the figures count
        figures = review_status(con, g.coder if g.blind else None, blind=g.blind, cache=settings().cache)
    memos = memo_table(g.con, g.coder, g.blind)
    return _page("status.html", s=figures, memos=memo_records(memos[memos.target == "project"]))


@bp.post("/memo")
def write_memo() -> Response | str | tuple[str, int]:
    """Write a memo, or a new version of one of yours (``edits``: its key; an empty text withdraws
    it): on the project, a document, a passage (``segment_id``), a code or a decision. A fetch()
    call from the transcript view gets the passage back; a form goes back to ``back``."""
    form = request.form
    target = form.get("target", "")
    decision_id = None
    if target.startswith("decision:"):  # the passage's memo box offers "your latest decision here"
        target, decision_id = "decision", int(target.split(":", 1)[1]) if target[9:].isdigit() else None
    segment_id = form.get("segment_id", type=int)
    fetched = request.headers.get("X-Requested-With") == "fetch"
    try:
        memo(g.con, g.coder, target, form.get("text", ""), document=form.get("document") or None,
             segment_id=segment_id if target == "segment" else None, code=form.get("code") or None,
             decision_id=decision_id, edits=(form.get("edits") or None) if target != "decision" else None)
        message = "Memo saved." if (form.get("text") or "").strip() else "Memo withdrawn."
    except (MemoError, ValueError) as exc:
        if fetched:
            return _text(str(exc), 409)
        flash(str(exc), "error")
        return redirect(safe_next(form.get("back")))
    if fetched and segment_id is not None:
        return fragments([segment_id], message, segment_id)
    flash(message, "ok")
    return redirect(safe_next(form.get("back")))


@bp.get("/memos")
def memos() -> str:
    """Every memo you may see, newest first; ``q`` keeps those holding every word of it."""
    q = request.args.get("q", "")
    found = search_memos(g.con, q, g.coder, g.blind)
    return _page("memos.html", q=q, memos=memo_records(found))


@bp.get("/media/<path:name>")
def media(name: str) -> Response:
    """The recording the manifest names for document ``name`` (its ``media`` attribute), and nothing
    else: the URL names a document, never a path, so no other file can be reached through it."""
    doc = current_document(g.con, name)
    named = document_attributes(g.con, int(doc["id"])).get(MEDIA_ATTRIBUTE) if doc is not None else None
    if not named:
        return _text("no recording is named for this document", 404)
    path = Path(named)
    if not path.is_absolute():  # stored by an older ingest: relative to the transcript's folder
        path = Path(doc["path"]).parent / path
    kind = MEDIA_TYPES.get(path.suffix.lower())
    if kind is None:
        return _text(f"{path.name}: not an audio or video file this page plays", 404)
    if not path.is_file():
        return _text(f"{path.name}: the recording is not on this machine", 404)
    # conditional: answers Range requests, so the player can seek to a passage's time
    return send_file(path, mimetype=kind, conditional=True, max_age=0)


# ---------------------------------------------------------------------------- helpers


def safe_next(target: str | None) -> str:
    """Only paths on this server: never redirect elsewhere (an open redirect lends this page's
    trust to another site)."""
    cleaned = _URL_NOISE.sub("", target or "")
    if not cleaned or "\\" in cleaned:  # browsers read a backslash as a slash
        return "/review"
    try:
        parts = urlsplit(cleaned)
    except ValueError:  # e.g. "//[bad" (an unclosed IPv6 host)
        return "/review"
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or cleaned.startswith("//"):
        return "/review"
    return cleaned


def filters_from(query: str) -> dict[str, str]:
    """The review filters out of a query string, known keys only (it is echoed into URLs)."""
    keys = set(QueueFilter.QUERY_KEYS.values())
    return {k: v for k, v in parse_qsl(query, keep_blank_values=True) if k in keys}


def fmt_time(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return ""
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:d}:{s % 60:02d}"


def codebook_tree(book: Codebook) -> list[dict]:
    """Meta-themes with the themes (leaves) under them, in codebook order, for the picker."""
    leaves = {c.code for c in book.leaves}
    groups: dict[str, dict] = {}
    for c in book.codes:
        top = book.top_level(c.code)
        group = groups.setdefault(top, {"name": top, "description": book[top].description, "codes": []})
        if c.code in leaves:
            path = [a for a in reversed(book.ancestors(c.code)) if a != top]
            group["codes"].append({"code": c.code, "path": " / ".join(path), "description": c.description})
    return list(groups.values())


def review_page(con: sqlite3.Connection, args: dict) -> str:
    """The review page: the queue under the filters of ``args``, and the item in focus."""
    queue_filter = QueueFilter.from_query(args)
    filters = queue_filter.to_query()
    cache = settings().cache
    try:
        # the view's first WINDOW items (passages) only: enough to find the item in focus and its
        # neighbours; a coder works from the front of the pending queue
        with queue_reads() as reader:
            page = queue_page(reader, g.coder, queue_filter, limit=WINDOW, cache=cache, count=True, blind=g.blind)
    except ValueError as exc:
        return _page("message.html", title="Nothing to review yet", message=str(exc))
    view, book = page.items, cache["book"]
    wanted = args.get("item")
    if wanted and wanted not in set(view.key):
        with queue_reads() as reader:
            view = queue_page(reader, g.coder, queue_filter, limit=10 * WINDOW, cache=cache, blind=g.blind).items
    keys = view.key.tolist()
    pos = keys.index(wanted) if wanted in keys else 0
    item = None
    if wanted and wanted not in keys:
        # an item outside the view (just decided, or reached by undo): show it, then carry on with the view
        try:
            segment_id, _ = parse_key(wanted)
        except ValueError:
            segment_id = None
        hit = None
        if segment_id is not None:
            with queue_reads() as reader:
                hit = passage_rows(reader, g.coder, segment_id, cache=cache, blind=g.blind)
        item = hit[hit.key == wanted].iloc[0] if hit is not None and (hit.key == wanted).any() else None
    if item is None and keys:
        item = view.iloc[pos]
    in_view = item is not None and item.key in keys
    active = {k: v for k, v in filters.items() if v or k == "status"}
    back = urlencode(active)
    per_segment = queue_filter.per == "segment"
    more = "more than " if page.capped else ""
    ctx = dict(filters=filters, back=back, active=active, options=filter_values(con, cache=cache), orders=ORDERS,
               statuses=STATUSES, total=page.total, decided=page.decided, view_count=f"{more}{page.count}",
               tree=codebook_tree(book), item=None,
               n_passages=f"{more}{page.passages}" if per_segment else None)
    if item is None:
        return _page("review.html", **ctx)

    next_key = keys[pos + 1] if in_view and pos + 1 < len(keys) else (keys[0] if not in_view and keys else None)
    if next_key == item.key:
        next_key = None
    prev_key = keys[pos - 1] if in_view and pos > 0 else None
    nav_next, nav_prev, next_passage = next_key, prev_key, next_key
    if per_segment:
        # n and p move a passage at a time; a and r go on to the passage's next suggestion
        segments = view.segment_id.tolist()
        here = int(item.segment_id)
        after = range(pos + 1, len(keys)) if in_view else range(len(keys))
        next_passage = next((keys[i] for i in after if segments[i] != here), None)
        same = [keys[i] for i in after if segments[i] == here] if in_view else []
        next_key = same[0] if same else next_passage
        nav_next = next_passage
        nav_prev = None
        if in_view:
            first = segments.index(here)
            if first > 0:
                before = segments[first - 1]
                nav_prev = keys[segments.index(before)]
    nothing = not nothing_applies(con, g.coder, int(item.document_id)).query(
        f"segment_id == {int(item.segment_id)}").empty
    memos = memo_table(con, g.coder, g.blind)
    ctx.update(code_memos=memo_records(memos[(memos.target == "code") & (memos.code == item.code)]),
               here=request.full_path)
    with queue_reads() as reader:
        rows = passage_rows(reader, g.coder, int(item.segment_id), cache=cache, blind=g.blind)
    ctx.update(item=item, position=pos + 1 if in_view else None, next_key=next_key, prev_key=prev_key,
               nav_next=nav_next, nav_prev=nav_prev, next_passage=next_passage, nothing=nothing,
               **item_details(con, item, rows, g.coder, g.blind))
    return _page("review.html", **ctx)
