#!/usr/bin/env python3
"""Runs each sample's run.sh (real binaries, the CLI in local mode, a temporary RUNNEL_HOME) and
checks what it produced against the events it published:

  anomaly detection   the alerts are exactly the (card, 5s window of event time) pairs with
                      more than 5 authorizations, recomputed from the events' own times, with
                      count, first and last times, key and window bounds; the events were
                      published out of order (within the allowed 2s), none went to the late
                      stream, and a second processor replaying the stream from the start
                      raised the same alerts; a card used often overall, never 6 times in one
                      window, is not flagged.
  taxi rides          the results are exactly, per licence and 30-minute window of event
                      time (the drop-off), the rides and the sum of their durations, recomputed
                      from the published rides (some out of order, none late), keyed by the
                      licence and stamped with the window's last instant.
  split and aggregate every window's totals add up to the published amounts above and below 5;
                      the live chart, rendered by headless Chromium, shows those totals in its
                      DOM and draws both series (pixels of each series' colour inside the plot),
                      while the same page with no data (or one series) draws nothing (or one).
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

ARGS = None
CHROMIUM = "/usr/bin/chromium"
HIGH = (0xD6, 0x27, 0x28)
LOW = (0x1F, 0x77, 0xB4)


def sample_env(tmp):
    env = dict(os.environ)
    env.update({"RUNNEL_BUILD_DIR": ARGS.build_dir, "RUNNEL_SAMPLE_BUILD": "0",
                "RUNNEL_HOME": os.path.join(tmp, "home"), "SAMPLE_OUTPUT_DIR": os.path.join(tmp, "out")})
    return env


def read_text(path):
    with open(path) as f:
        return f.read()


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def payloads(path):
    return [json.loads(r["payload"]) for r in read_jsonl(path)]


def event_time_ms(text):
    """RFC 3339 in UTC with milliseconds ("2024-05-01T10:00:00.123Z") -> Unix milliseconds."""
    import datetime
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1000 + t.microsecond // 1000


def rfc3339_ms(ms):
    """Unix milliseconds -> RFC 3339 in UTC with milliseconds, as the processor writes it."""
    import datetime
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def decode_png(path):
    """(width, height, rows of RGB tuples) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, channels)])
        prev = line
    return width, height, rows


def colour_pixels(png, rect, colour, tolerance=12):
    """How many pixels inside rect (x, y, w, h) are within `tolerance` of `colour`."""
    _, _, rows = decode_png(png)
    x0, y0, w, h = rect
    n = 0
    for row in rows[y0:y0 + h]:
        for px in row[x0:x0 + w]:
            if all(abs(px[k] - colour[k]) <= tolerance for k in range(3)):
                n += 1
    return n


def chromium(*args):
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError(f"{CHROMIUM} is missing: run scripts/setup.sh (it installs chromium)")
    profile = tempfile.mkdtemp()
    try:
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--hide-scrollbars", f"--user-data-dir={profile}",
                            "--window-size=960,600", "--virtual-time-budget=4000", *args],
                           capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if p.returncode != 0:
        raise AssertionError(f"chromium failed ({p.returncode}): {p.stderr[-2000:]}")
    return p.stdout


def page_state(url):
    """The data-* attributes the chart page sets on <body>, after its scripts ran."""
    import html.parser

    class Body(html.parser.HTMLParser):
        attrs = None

        def handle_starttag(self, tag, attrs):
            if tag == "body":
                Body.attrs = dict(attrs)

    parser = Body()
    parser.feed(chromium("--dump-dom", url))
    return {k[len("data-"):]: v for k, v in (Body.attrs or {}).items() if k.startswith("data-")}


def series_pixels(url, tmp):
    """(high, low) pixel counts of each series' colour inside the plot of the page at url."""
    state = page_state(url)
    if "plot" not in state:
        raise AssertionError(f"the page exposed no plot rectangle: {state}")
    rect = [int(v) for v in state["plot"].split(",")]
    png = os.path.join(tmp, f"shot-{time.monotonic_ns()}.png")
    chromium(f"--screenshot={png}", url)
    return colour_pixels(png, rect, HIGH), colour_pixels(png, rect, LOW), png


class Samples(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_anomaly_detection(self):
        start = time.monotonic()
        p = subprocess.run(["bash", os.path.join(ARGS.repo, "samples/anomaly-detection/run.sh")],
                           env=sample_env(self.tmp), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=240)
        print(f"anomaly-detection/run.sh: {time.monotonic() - start:.1f}s", file=sys.stderr)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = os.path.join(self.tmp, "out")
        events = read_jsonl(os.path.join(out, "events.jsonl"))
        # The events were published out of order: some after younger ones, by at most the 2s the
        # processor allows (--max-out-of-orderness), so none is late.
        times = [event_time_ms(e["time"]) for e in events]
        behind = [max(times[:i]) - t for i, t in enumerate(times) if i and t < max(times[:i])]
        self.assertGreater(len(behind), len(events) // 4, "the generator's --disorder")
        self.assertLessEqual(max(behind), 2000)

        # Expected, from the events' own times: per card and aligned 5s window, the cards used
        # more than 5 times, with the window, the count and the first and last event times.
        windows = {}
        for e, t in zip(events, times):
            w = windows.setdefault((e["card_number"], t - t % 5000), [])
            w.append(e["time"])
        want = sorted((card, rfc3339_ms(ws), rfc3339_ms(ws + 5000), len(ts), min(ts), max(ts))
                      for (card, ws), ts in windows.items() if len(ts) > 5)
        self.assertEqual(len(want), 3, "the generator's 3 suspicious cards")
        # The disorder matters: had the processor allowed none (the watermark at the latest event
        # time seen), some authorization of a flagged window would have come after the window
        # fired; with the 2s it allows, none does.
        flagged_windows = {(card, event_time_ms(ws)) for card, ws, *_ in want}

        def late_in_flagged(allowed_ms):
            latest, late = None, 0
            for e, t in zip(events, times):
                ws = t - t % 5000
                if latest is not None and latest - allowed_ms >= ws + 5000:
                    late += (e["card_number"], ws) in flagged_windows
                latest = t if latest is None else max(latest, t)
            return late

        self.assertGreater(late_in_flagged(0), 0, "the published order does not exercise disorder")
        self.assertEqual(late_in_flagged(2000), 0)

        def alerts(name):
            records = read_jsonl(os.path.join(out, name))
            got = sorted((a["card_number"], a["window_start"], a["window_end"], a["authorizations"],
                          a["first"], a["last"]) for a in (json.loads(r["payload"]) for r in records))
            self.assertEqual(got, want, f"{name}\n{p.stdout}")
            for r in records:
                a = json.loads(r["payload"])
                # Keyed by the card; stamped with the window's last instant and its bounds.
                self.assertEqual(r["key"], a["card_number"], r)
                self.assertEqual(event_time_ms(r["time"]), event_time_ms(a["window_end"]) - 1, r)
                self.assertEqual(r["headers"].get("runnelwindowstart"), a["window_start"], r)

        alerts("possible-fraud.jsonl")
        # Replayed from the start by a second processor (all at once, not as published): the same.
        alerts("possible-fraud-replay.jsonl")
        self.assertIn("Replay from the start: the same alerts.", p.stdout)
        self.assertEqual(read_jsonl(os.path.join(out, "late-authorizations.jsonl")), [])
        # Windowing matters: some card was used more than 5 times overall, never in one window.
        totals = {}
        for e in events:
            totals[e["card_number"]] = totals.get(e["card_number"], 0) + 1
        flagged = {a[0] for a in want}
        self.assertTrue([c for c, n in totals.items() if n > 5 and c not in flagged])
        for card, *_ in want:
            self.assertIn(f"card {card}", p.stdout)

    def test_taxi_rides(self):
        env = sample_env(self.tmp)
        start = time.monotonic()
        p = subprocess.run(["bash", os.path.join(ARGS.repo, "samples/taxi-rides/run.sh")],
                           env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=240)
        print(f"taxi-rides/run.sh: {time.monotonic() - start:.1f}s", file=sys.stderr)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = os.path.join(self.tmp, "out")
        rides = read_jsonl(os.path.join(out, "events.jsonl"))
        self.assertGreater(len(rides), 50)
        # Published out of order (some rides after later ones), within the allowed 5s: none late.
        ends = [event_time_ms(r["eventTime"]) for r in rides]
        behind = [max(ends[:i]) - t for i, t in enumerate(ends) if i and t < max(ends[:i])]
        self.assertTrue(behind, "the generator's --disorder")
        self.assertLessEqual(max(behind), 5000)
        self.assertEqual(read_jsonl(os.path.join(out, "late-rides.jsonl")), [])

        # Expected, from the rides' own times: per licence and aligned 30-minute window of event
        # time (the drop-off), the rides and the sum of their durations.
        window = 30 * 60 * 1000
        want = {}
        for r, t in zip(rides, ends):
            self.assertEqual(r["eventTime"], r["dropoffTime"])
            k = (r["licenseId"], rfc3339_ms(t - t % window), rfc3339_ms(t - t % window + window))
            n, ms = want.get(k, (0, 0))
            want[k] = (n + 1, ms + t - event_time_ms(r["pickupTime"]))
        want = sorted((*k, n, ms // 1000) for k, (n, ms) in want.items())
        # Some ride was picked up in one window and ended in the next: it counts in the second.
        self.assertTrue([r for r in rides if event_time_ms(r["pickupTime"]) // window !=
                         event_time_ms(r["dropoffTime"]) // window])

        records = read_jsonl(os.path.join(out, "work-time.jsonl"))
        got = sorted((w["licenseId"], w["windowStart"], w["windowEnd"], w["rides"], w["workSeconds"])
                     for w in (json.loads(r["payload"]) for r in records))
        self.assertEqual(got, want, p.stdout)
        for r in records:
            w = json.loads(r["payload"])
            # Keyed by the licence; stamped with the window's last instant and its bounds.
            self.assertEqual(r["key"], w["licenseId"], r)
            self.assertEqual(event_time_ms(r["time"]), event_time_ms(w["windowEnd"]) - 1, r)
            self.assertEqual(r["headers"].get("runnelwindowstart"), w["windowStart"], r)
        windows = {k[1] for k in want}
        self.assertIn(f"{len(want)} results from {len(windows)} windows; late rides: 0", p.stdout)
        # run.sh's exit trap brought its control plane down.
        status = subprocess.run([os.path.join(ARGS.build_dir, "cli/runnel"), "gateway", "list"],
                                env=env, capture_output=True, text=True, timeout=30)
        self.assertIn("ControlPlaneDown", status.stdout + status.stderr)

    def test_split_aggregate(self):
        env = sample_env(self.tmp)
        env.update({"SAMPLE_SECONDS": "8", "SAMPLE_RATE": "10", "SAMPLE_DASHBOARD_PORT": "0",
                    "SAMPLE_LINGER": "240"})
        log_path = os.path.join(self.tmp, "run.log")
        log = open(log_path, "w")
        run = subprocess.Popen(["bash", os.path.join(ARGS.repo, "samples/split-aggregate/run.sh")],
                               env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
        try:
            deadline = time.time() + 200
            text = ""
            while time.time() < deadline and "Totals complete." not in text and run.poll() is None:
                time.sleep(0.5)
                text = read_text(log_path)
            self.assertIn("Totals complete.", text, text)
            url = next(line.split(": ", 1)[1] for line in text.splitlines()
                       if line.startswith("Live chart: "))
            out = os.path.join(self.tmp, "out")
            amounts = [e["amount"] for e in read_jsonl(os.path.join(out, "events.jsonl"))]
            self.assertEqual(len(amounts), 80)
            want = {"high": [a for a in amounts if a > 5], "low": [a for a in amounts if a <= 5]}
            for name in ("high", "low"):
                windows = payloads(os.path.join(out, f"{name}-totals.jsonl"))
                self.assertGreaterEqual(len(windows), 2, f"{name}: 8s of events in 2s windows")
                self.assertEqual(sum(w["count"] for w in windows), len(want[name]))
                self.assertEqual(sum(w["sum"] for w in windows), sum(want[name]))
                for w in windows:
                    if name == "high":
                        self.assertGreater(w["min"], 5, w)
                    else:
                        self.assertLessEqual(w["max"], 5, w)
                    self.assertLessEqual(w["min"], w["avg"])
                    self.assertLessEqual(w["avg"], w["max"])
                self.assertIn(f"{name}: {len(want[name])} events in {len(windows)} windows, "
                              f"sum {sum(want[name])}", text)

            state = page_state(url)
            for name in ("high", "low"):
                self.assertEqual(int(state[f"{name}-count"]), len(want[name]), state)
                self.assertEqual(float(state[f"{name}-sum"]), sum(want[name]), state)
                self.assertGreaterEqual(int(state[f"{name}-drawn"]), 2, state)
            high, low, png = series_pixels(url, self.tmp)
            print(f"chart: {high} high and {low} low series pixels", file=sys.stderr)
            if os.environ.get("SAMPLES_KEEP_SCREENSHOT"):
                shutil.copy(png, os.environ["SAMPLES_KEEP_SCREENSHOT"])
            self.assertGreater(high, 300, f"high series not drawn ({png})")
            self.assertGreater(low, 300, f"low series not drawn ({png})")

            # The same check on pages that must not show a series: it fails to find them.
            replays = {"empty": [], "low-only": ["low-totals.jsonl"]}
            for label, files in replays.items():
                replay_dir = os.path.join(self.tmp, label)
                os.makedirs(replay_dir)
                for f in files:
                    shutil.copy(os.path.join(out, f), replay_dir)
                url_file = os.path.join(replay_dir, "url")
                server = subprocess.Popen(
                    [sys.executable, os.path.join(ARGS.repo, "samples/split-aggregate/dashboard.py"),
                     "--port", "0", "--replay", replay_dir, "--url-file", url_file],
                    stdout=subprocess.DEVNULL)
                try:
                    for _ in range(100):
                        if os.path.exists(url_file):
                            break
                        time.sleep(0.1)
                    replay_url = read_text(url_file).strip()
                    high, low, png = series_pixels(replay_url, self.tmp)
                    self.assertLess(high, 20, f"{label}: no high series expected ({png})")
                    if label == "empty":
                        self.assertLess(low, 20, f"{label}: no low series expected ({png})")
                    else:
                        self.assertGreater(low, 300, f"{label}: low series expected ({png})")
                finally:
                    server.terminate()
                    server.wait(timeout=10)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGTERM)
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
            log.close()
        # run.sh's exit trap brought its control plane down.
        status = subprocess.run([os.path.join(ARGS.build_dir, "cli/runnel"), "gateway", "list"],
                                env=env, capture_output=True, text=True, timeout=30)
        self.assertIn("ControlPlaneDown", status.stdout + status.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--build-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
