"""A stand-in of Twilio's Messages API on loopback, for processes the tests start (a `qcluster`):
it creates each text it is asked for, as Twilio does, and records what it was asked."""

import threading
import time
import urllib.parse
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.distributions.sms import api_message, message_sid


class TwilioApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, delay: float):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.created: list[dict] = []  # the form of each text created, in order
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        if not self.path.endswith("/Messages.json"):
            self.send_error(404)
            return
        with self.server.lock:
            self.server.created.append(form)
        time.sleep(self.server.delay)  # created, but the caller hears it only now
        body = api_message(sid=message_sid(), to=form.get("To", ""), body=form.get("Body", "")).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # quiet: the tests read `created`
        pass


@contextmanager
def twilio_api(*, delay: float = 0.0):
    """Yields a running TwilioApi; its base_url goes in TWILIO_API_BASE_URL."""
    server = TwilioApi(delay=delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
