#!/usr/bin/env python3
"""A plain HTTP function, not written with the Runnel SDK: squares JSON numbers.

Usage: plain_function.py MODE   (prints "plain-function ready port=<p>" once listening)
  square   every request answered 200 with the square; record headers it received come back as
           X-Seen-<name> response headers, and Content-Type/Accept as X-Seen-Content-Type/-Accept
  flaky    the first request for each body answers 500, the next ones 200
  reject   body 13 answers 415 {"error": "unlucky 13"}; the rest 200
  hang     body 7 never answers (sleeps 60 s); the rest 200
  shuffle  answers after a random 0-20 ms, so responses complete out of order
  csv      body 13 answers 200 with its square as text/csv (whatever the Accept); the rest JSON
Answers of 200 also carry X-Concurrent: the requests being answered when this one arrived.
"""
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = sys.argv[1] if len(sys.argv) > 1 else "square"
seen = {}
in_flight = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # Keep-alive.

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json", headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        global in_flight
        with lock:
            in_flight += 1
            self.concurrent = in_flight
        try:
            self.answer()
        finally:
            with lock:
                in_flight -= 1

    def answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        with lock:
            seen[body] = seen.get(body, 0) + 1
            count = seen[body]
        if MODE == "flaky" and count == 1:
            return self.reply(500, '{"error": "try again"}')
        if MODE == "reject" and body.strip() == "13":
            return self.reply(415, '{"error": "unlucky 13"}')
        if MODE == "hang" and body.strip() == "7":
            time.sleep(60)
            return
        if MODE == "csv" and body.strip() == "13":
            return self.reply(200, "169", content_type="text/csv")
        if MODE == "shuffle":
            time.sleep(random.random() * 0.02)
        x = json.loads(body)
        echoed = [("X-Seen-" + k, v) for k, v in self.headers.items()
                  if k.lower() not in ("content-length", "host", "user-agent")]
        echoed.append(("X-Concurrent", str(self.concurrent)))
        self.reply(200, json.dumps(x * x), headers=echoed)


# The default listen backlog (5) drops connection bursts; the processor opens up to
# --function-max-inflight connections at once.
ThreadingHTTPServer.request_queue_size = 128
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"plain-function ready port={server.server_address[1]}", flush=True)
server.serve_forever()
