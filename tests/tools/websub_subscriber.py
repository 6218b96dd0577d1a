#!/usr/bin/env python3
"""An independent WebSub subscriber for herald's interop test.

Runs flask-websub's Subscriber (https://github.com/marten-de-vries/Flask-WebSub,
not written for herald) on 127.0.0.1 (a free port), subscribes to TOPIC
through HUB with a secret, and reports on stdout, one JSON object a line:

  {"event": "listening", "port": N}
  {"event": "requested", "mode": "subscribe", "callback_id": ...}
  {"event": "verified", "mode": "subscribe" | "unsubscribe", "topic": ...}
  {"event": "denied", "topic": ..., "reason": ...}
  {"event": "distribution", "topic": ..., "body": ..., "signed": true}
  {"event": "error", "message": ...}

flask-websub calls its listeners only for a distribution whose
X-Hub-Signature matches the secret (it checks the HMAC itself), so every
"distribution" line is a correctly signed one.

Commands on stdin, one a line: "unsubscribe" asks the hub to end the
subscription; "quit" (or end of input) stops.

Exit status 2 when flask-websub (or Flask, requests) is missing, so the
Rust test can tell "not installed" from "failed".

  usage: websub_subscriber.py HUB_URL TOPIC_URL [SECRET]
"""

import json
import os
import sys
import tempfile
import threading

try:
    from flask import Flask
    from werkzeug.serving import make_server
    import flask_websub.subscriber as websub_subscriber
    from flask_websub.subscriber import (
        SQLite3SubscriberStorage,
        SQLite3TempSubscriberStorage,
        Subscriber,
    )
except ImportError as error:  # pragma: no cover - depends on the machine
    print(f"flask-websub is not installed ({error}): pip install -r tests/requirements.txt", file=sys.stderr)
    sys.exit(2)

_lock = threading.Lock()


def report(**fields):
    with _lock:
        print(json.dumps(fields), flush=True)


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 64
    hub_url, topic_url = sys.argv[1], sys.argv[2]
    secret = sys.argv[3] if len(sys.argv) == 4 else "interop-secret-0123456789"

    # flask-websub sends a secret only to an https hub (WebSub 5.1: a secret
    # SHOULD only be sent over HTTPS). The test's hub is herald on loopback
    # without TLS, so loopback counts as secure here. Only this policy is
    # changed; the signature check on distributions is flask-websub's own.
    secure = websub_subscriber.is_secure
    websub_subscriber.is_secure = lambda url: secure(url) or url.startswith("http://127.0.0.1:")

    workdir = tempfile.mkdtemp(prefix="websub-subscriber-")
    app = Flask("herald-websub-interop")
    subscriber = Subscriber(
        SQLite3SubscriberStorage(os.path.join(workdir, "subscriptions.db")),
        SQLite3TempSubscriberStorage(os.path.join(workdir, "requests.db")),
    )
    app.register_blueprint(subscriber.build_blueprint(url_prefix="/callbacks"))

    @subscriber.add_listener
    def on_distribution(topic, callback_id, body):
        report(event="distribution", topic=topic, callback_id=callback_id,
               body=body.decode("utf-8", "replace"), signed=True)

    @subscriber.add_success_handler
    def on_success(topic, callback_id, mode):
        report(event="verified", mode=mode, topic=topic, callback_id=callback_id)

    @subscriber.add_error_handler
    def on_error(topic, callback_id, reason):
        report(event="denied", topic=topic, callback_id=callback_id, reason=reason)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    port = server.server_port
    app.config["SERVER_NAME"] = f"127.0.0.1:{port}"
    app.config["PREFERRED_URL_SCHEME"] = "http"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    report(event="listening", port=port)

    callback_id = None
    try:
        with app.app_context():
            callback_id = subscriber.subscribe(topic_url=topic_url, hub_url=hub_url, secret=secret)
            report(event="requested", mode="subscribe", callback_id=callback_id)
        for line in sys.stdin:
            command = line.strip()
            if command == "unsubscribe":
                with app.app_context():
                    subscriber.unsubscribe(callback_id)
                report(event="requested", mode="unsubscribe", callback_id=callback_id)
            elif command == "quit":
                break
    except Exception as error:  # reported, then the script fails
        report(event="error", message=f"{type(error).__name__}: {error}")
        return 1
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
