"""A webhook receiver in front of Flawmap that loses a share of deliveries, like a flaky network."""

import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class FlakyProxy:
    def __init__(self, target: str, drop_rate: float, seed: int = 0):
        self.target, self.drop_rate = target, drop_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.delivered = self.dropped = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    drop = proxy._random.random() < proxy.drop_rate
                    proxy.dropped += drop
                    proxy.delivered += not drop
                if drop:
                    self.send_response(503)
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                upstream = requests.post(proxy.target, data=body, headers=headers, timeout=10)
                self.send_response(upstream.status_code)
                self.end_headers()
                self.wfile.write(upstream.content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhook/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
