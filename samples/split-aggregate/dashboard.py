#!/usr/bin/env python3
"""The split-and-aggregate sample's live chart: a tiny web server of our own.

It follows the two totals streams through `runnel subscribe` (one subprocess each) and serves
  GET /       index.html: a line chart of each window's sum, high (> 5) and low (<= 5)
  GET /data   {"high": [window totals...], "low": [...]} as received so far
  GET /healthz
on 127.0.0.1. --replay DIR serves saved totals (DIR/high-totals.jsonl, DIR/low-totals.jsonl, as
`runnel subscribe` prints them) instead of following the streams; --save-dir DIR saves them.
"""
import argparse
import http.server
import json
import os
import signal
import subprocess
import sys
import threading

SERIES = {"high": "high-totals", "low": "low-totals"}
HERE = os.path.dirname(os.path.abspath(__file__))


class Totals:
    def __init__(self):
        self.lock = threading.Lock()
        self.points = {name: [] for name in SERIES}

    def add(self, name, line):
        try:
            point = json.loads(json.loads(line)["payload"])
        except (ValueError, KeyError, TypeError):
            return False
        with self.lock:
            self.points[name].append(point)
        return True

    def snapshot(self):
        with self.lock:
            return {name: list(points) for name, points in self.points.items()}


def follow(runnel, name, stream, totals, save_dir, children):
    child = subprocess.Popen([runnel, "subscribe", stream, "--from-beginning"],
                             stdout=subprocess.PIPE, text=True)
    children.append(child)
    saved = open(os.path.join(save_dir, f"{stream}.jsonl"), "a") if save_dir else None
    for line in child.stdout:
        if totals.add(name, line) and saved:
            saved.write(line)
            saved.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8088, help="0 picks a free port")
    parser.add_argument("--runnel", help="the runnel binary, to follow the totals streams")
    parser.add_argument("--replay", help="serve the totals saved in this directory")
    parser.add_argument("--save-dir", help="save the totals received here")
    parser.add_argument("--url-file", help="write the page's URL here once serving")
    args = parser.parse_args()
    if bool(args.runnel) == bool(args.replay):
        parser.error("give --runnel BIN or --replay DIR")

    totals = Totals()
    children = []
    if args.replay:
        for name, stream in SERIES.items():
            path = os.path.join(args.replay, f"{stream}.jsonl")
            if os.path.exists(path):
                for line in open(path):
                    totals.add(name, line)
    else:
        for name, stream in SERIES.items():
            threading.Thread(target=follow, daemon=True,
                             args=(args.runnel, name, stream, totals, args.save_dir, children)).start()

    with open(os.path.join(HERE, "index.html"), "rb") as f:
        page = f.read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path in ("/", "/index.html"):
                self.reply(200, "text/html; charset=utf-8", page)
            elif self.path == "/data":
                self.reply(200, "application/json", json.dumps(totals.snapshot()).encode())
            elif self.path == "/healthz":
                self.reply(200, "text/plain", b"ok\n")
            else:
                self.reply(404, "text/plain", b"not found\n")

        def reply(self, code, content_type, body):
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *unused):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    def stop(*unused):
        for child in children:
            child.terminate()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.url_file:
        with open(args.url_file + ".tmp", "w") as f:
            f.write(url + "\n")
        os.rename(args.url_file + ".tmp", args.url_file)
    print(f"dashboard: {url}", flush=True)
    server.serve_forever()
    for child in children:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
