"""The review web app: :func:`create_app` builds it around the views of :mod:`.web`;
:func:`serve` runs it on this machine and prints the URL."""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path
from urllib.parse import quote

from flask import Flask
from werkzeug.serving import make_server

from .. import store
from ..store.coders import key_coders
from ..store.documents import current_document, current_document_names
from ..store.runs import OPERATING_THRESHOLD
from . import csrf
from .web import LOCAL_HOSTS, Settings, bp, fmt_time


def create_app(project: str | Path, coder: str | None = None, blind: bool = False, local_only: bool = True,
               signin: bool | None = None) -> Flask:
    """The review app for a project. ``coder`` fixes who reviews; ``blind`` hides other coders' decisions;
    ``local_only`` refuses requests whose Host is not this machine; ``signin`` (default: when not
    ``local_only``) has coders sign in with their keys (``nlp-theming coders add``)."""
    con = store.open_project(project)  # fails early, with a clear message, on a non-project
    try:
        secret = csrf.project_secret(con)
    finally:
        con.close()
    # the app's root is this package, so templates/ and static/ beside this file serve it
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=hmac.new(secret, b"flask-session", hashlib.sha256).hexdigest(),
        SESSION_COOKIE_SAMESITE="Lax",  # Lax: a link from elsewhere opens the page as the same coder
        SESSION_COOKIE_NAME="nlp_theming_flash",
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions["nlp_theming"] = Settings(Path(project), secret, coder.strip() if coder else None, blind,
                                             local_only, signin=not local_only if signin is None else signin)
    app.jinja_env.autoescape = True  # every template, whatever its name
    app.jinja_env.globals.update(fmt_time=fmt_time, THRESHOLD=OPERATING_THRESHOLD)
    app.register_blueprint(bp)
    return app


def serve(project: str | Path, host: str = "127.0.0.1", port: int = 0, coder: str | None = None,
          blind: bool = False, ready: object = None, document: str | None = None) -> None:
    """Run the review server until interrupted. ``port`` 0 picks a free port; the URL is printed
    (``document``: the URL of that document's transcript view; ValueError for an unknown name)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the researcher's terminal
    path = "/"
    if document:
        con = store.open_project(project)
        try:
            if current_document(con, document) is None:
                names = current_document_names(con)
                raise ValueError(f"no document {document!r} in {project} (documents: {', '.join(names[:10])}"
                                 f"{', ...' if len(names) > 10 else ''})")
        finally:
            con.close()
        path = f"/document/{quote(document)}"
    local = host in LOCAL_HOSTS
    if not local:
        # beyond this machine, every coder signs in: refuse to open the door before there are keys
        con = store.open_project(project)
        try:
            coders = key_coders(con)
        finally:
            con.close()
        if not coders:
            raise ValueError(f"serving on {host} makes the transcripts reachable from other machines, so coders must"
                             f" sign in: give each a key first with `nlp-theming coders add {project} NAME`")
        if coder:
            raise ValueError("--coder cannot be used beyond this machine: each coder signs in as themselves")
    app = create_app(project, coder=coder, blind=blind, local_only=local)
    shown = f"[{host}]" if ":" in host else host
    if local:
        server = make_server(host, port, app, threaded=True)
        bound, run, close = server.server_port, server.serve_forever, server.server_close
    else:
        # a production server for the network (request parsing hardened, threads bounded)
        from waitress import create_server

        wsgi = create_server(app, host=host, port=port, threads=8, ident="nlp-theming")
        bound, run, close = wsgi.effective_port, wsgi.run, wsgi.close
    url = f"http://{shown}:{bound}{path}"
    print(f"Reviewing {project} at {url}  (Ctrl+C to stop)", flush=True)
    if not local:
        print(f"note: reachable from other machines; coders sign in with their keys ({', '.join(coders)})",
              flush=True)
    if callable(ready):
        ready(url)
    try:
        run()
    except KeyboardInterrupt:
        pass
    finally:
        close()
