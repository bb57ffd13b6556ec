#!/usr/bin/env python3
"""bench/kafka_bench.py - Kafka mode throughput against its peers, and end-to-end latency.

Run by `make bench-kafka` (after `make`). On the local broker of scripts/kafka:

1. Loads the generator's 1,000,000-frame sample-shaped stream (build/kuniq-gen defaults: ~2 KB
   frames, 1000 frames per event second, 100,000 users) into a 4-partition topic with kcat
   (random partitioning), plus four closing frames per partition 120 s of event time later, so
   that kuniq's last minute of the stream becomes final exactly when every partition has been
   read to its end (no idle timeout involved in the measurement).
2. Measures, in the same run, reading that topic from the beginning to its end:
   - kcat -C -e -o beginning to /dev/null: the librdkafka client floor;
   - kuniq, minute..year windows, results produced to an output topic: from its start to the
     CreateTime of the last minute's result in the output topic (it needs every frame), and the
     same from its partition assignment (the consumer group join excluded);
   - a Python consumer doing what the sample solutions did: confluent-kafka, json.loads of every
     message, a set of uids per minute (group subscription, like kuniq).
   Each consumer runs --runs times (default 2); the best run is reported with every run listed.
3. End-to-end latency: a live stream (ts = wall time, ~2 KB frames, --live-rate frames/s over 4
   partitions) produced with confluent-kafka for --live-seconds; for every minute that ends
   during it, the time from the minute's end, and from the production of its last frame, until
   its result is readable in the output topic (kuniq's default lateness of 5 s included).

Prints a table (Markdown) and writes build/bench-kafka.json. Figures depend on the machine;
compare the ratios.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUNIQ = os.path.join(ROOT, "build", "kuniq")
GEN = os.path.join(ROOT, "build", "kuniq-gen")
SCRIPT = os.path.join(ROOT, "scripts", "kafka")
# idempotence keeps every partition in file order even when a produce request is retried
KCAT_P = ["kcat", "-P", "-X", "enable.idempotence=true"]

try:
    import confluent_kafka
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:
    sys.exit("bench-kafka needs the confluent-kafka Python package (scripts/deps.sh)")


def log(msg):
    print("bench-kafka: " + msg, file=sys.stderr, flush=True)


def create_topic(addr, partitions):
    name = "bench-%s" % uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": addr})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result(30)
    return name, admin


def delete_topics(admin, names):
    for f in admin.delete_topics(names).values():
        try:
            f.result(30)
        except Exception as e:  # noqa: BLE001 - best effort cleanup
            log("could not delete a topic: %s" % e)


def last_ts(path):
    """ts of the stream's last frame (the generator's clock never goes back without --delay)."""
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 100000))
        last = f.read().split(b"\n")[-2]
    return int(json.loads(last)["ts"])


def load(addr, topic, path, partitions, tail_ts):
    t0 = time.monotonic()
    with open(path, "rb") as f:
        subprocess.run(KCAT_P + ["-b", addr, "-t", topic, "-p", "-1"], stdin=f, check=True)
    dt = time.monotonic() - t0
    for p in range(partitions):
        # K + 1 = 4 closing frames: the first is confirmed by the 3 after it (a step), which
        # moves the partition's clock past the stream's last minute
        lines = b"".join(b'{"uid":"closing-%d","ts":%d}\n' % (p, tail_ts + i) for i in range(4))
        subprocess.run(KCAT_P + ["-b", addr, "-t", topic, "-p", str(p)], input=lines,
                       check=True)
    return dt


class OutputWatcher:
    """Reads an output topic in a thread; records (key, value, CreateTime s, arrival time s)."""

    def __init__(self, addr, topic):
        self.records = []
        self.stop = False
        self.c = confluent_kafka.Consumer({"bootstrap.servers": addr,
                                           "group.id": "watch-" + uuid.uuid4().hex,
                                           "auto.offset.reset": "earliest",
                                           "enable.auto.commit": False,
                                           "fetch.wait.max.ms": 10})
        self.c.subscribe([topic])
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            m = self.c.poll(0.05)
            if m is None or m.error():
                continue
            self.records.append((m.key().decode(), json.loads(m.value()),
                                 m.timestamp()[1] / 1000.0, time.time()))

    def wait_key(self, key, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.records:
                if r[0] == key:
                    return r
            time.sleep(0.02)
        return None

    def close(self):
        self.stop = True
        self.t.join()
        self.c.close()


class KuniqProc:
    def __init__(self, args):
        self.t_start = time.time()
        self.p = subprocess.Popen([KUNIQ] + args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.lines = []
        self.t_assigned = None
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.p.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if self.t_assigned is None and "assigned" in line:
                self.t_assigned = time.time()

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(120)
        self.t.join()
        for line in reversed(self.lines):
            if line.startswith('{"summary"'):
                return json.loads(line)["summary"]
        raise RuntimeError("kuniq printed no summary:\n" + "\n".join(self.lines[-20:]))


def run_kcat(addr, topic):
    t0 = time.monotonic()
    subprocess.run(["kcat", "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-q"],
                   stdout=subprocess.DEVNULL, check=True)
    return {"seconds": time.monotonic() - t0}


def run_kuniq(addr, topic, last_minute, frames):
    out = topic + "-out-" + uuid.uuid4().hex[:6]
    watcher = OutputWatcher(addr, out)
    k = KuniqProc(["--brokers", addr, "--topic", topic, "--group", "bench-" + uuid.uuid4().hex,
                   "--from-beginning", "--output-topic", out, "--idle-timeout", "0",
                   "-w", "minute,hour,day,week,month,year"])
    rec = watcher.wait_key("minute/%d" % last_minute, 600)
    summary = k.stop()
    watcher.close()
    if rec is None:
        raise RuntimeError("kuniq: no result for the last minute:\n" + "\n".join(k.lines[-20:]))
    if summary["frames_read"] != frames:
        raise RuntimeError("kuniq read %d frames, expected %d" % (summary["frames_read"], frames))
    done = rec[2]
    return {"seconds": done - k.t_start, "seconds_from_assignment": done - k.t_assigned,
            "output_topic": out}


def run_python(addr, topic, partitions):
    """What the sample solutions did: a consumer, json.loads, a set per minute."""
    c = confluent_kafka.Consumer({"bootstrap.servers": addr,
                                  "group.id": "py-" + uuid.uuid4().hex,
                                  "auto.offset.reset": "earliest",
                                  "enable.auto.commit": False,
                                  "enable.partition.eof": True})
    assigned = []
    c.subscribe([topic], on_assign=lambda cons, parts: assigned.append(time.time()))
    t0 = time.time()
    minutes = {}
    eof = set()
    n = 0
    while len(eof) < partitions:
        for m in c.consume(1000, 1.0):
            if m.error():
                if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                continue
            n += 1
            d = json.loads(m.value())
            minutes.setdefault(d["ts"] // 60, set()).add(d["uid"])
    t1 = time.time()
    c.close()
    return {"seconds": t1 - t0, "seconds_from_assignment": t1 - assigned[0], "frames": n,
            "minutes": len(minutes)}


def live_latency(addr, seconds, rate, partitions):
    topic, admin = create_topic(addr, partitions)
    out = topic + "-out"
    watcher = OutputWatcher(addr, out)
    k = KuniqProc(["--brokers", addr, "--topic", topic, "--group", "live-" + uuid.uuid4().hex,
                   "--output-topic", out, "-w", "minute"])
    deadline = time.time() + 60
    while k.t_assigned is None and time.time() < deadline:
        time.sleep(0.1)
    prod = confluent_kafka.Producer({"bootstrap.servers": addr, "linger.ms": 5,
                                     "enable.idempotence": True})
    pad = "x" * 1900
    last_produced = {}  # minute start -> wall time its last frame was produced
    t_start = time.time()
    t_end = t_start + seconds
    i = 0
    rnd = random.Random(1)
    while True:
        now = time.time()
        if now >= t_end:
            break
        due = int((now - t_start) * rate)
        while i < due:
            ts = int(time.time())
            frame = '{"uid":"user-%d","ts":%d,"pad":"%s"}' % (rnd.randrange(50000), ts, pad)
            prod.produce(topic, value=frame.encode(), partition=i % partitions)
            last_produced[ts // 60 * 60] = time.time()
            i += 1
        prod.poll(0)
        time.sleep(0.002)
    prod.flush(30)
    time.sleep(8)  # the last minute that ended is emitted ~lateness after its end
    k.stop()
    watcher.close()
    delete_topics(admin, [topic, out])
    rows = []
    for key, rec, create, arrival in watcher.records:
        start, end = rec["start"], rec["end"]
        if end <= t_start or end > t_end or start not in last_produced:
            continue  # its minute did not end while frames were flowing
        rows.append({"minute": start, "after_end_s": round(arrival - end, 3),
                     "after_last_frame_s": round(arrival - last_produced[start], 3),
                     "frames": rec["frames"]})
    return {"frames_produced": i, "rate": rate, "minutes": rows}


def best(runs):
    return min(runs, key=lambda r: r["seconds"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--live-seconds", type=float, default=75)
    ap.add_argument("--live-rate", type=int, default=2000)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-kafka.json"))
    a = ap.parse_args()

    addr = subprocess.run([SCRIPT, "start"], stdout=subprocess.PIPE, check=True).stdout
    addr = addr.decode().strip()
    data = os.path.join(ROOT, "build", "bench-kafka-stream.jsonl")
    log("generating %d frames" % a.count)
    with open(data, "wb") as f:
        subprocess.run([GEN, "--count", str(a.count)], stdout=f, check=True)
    nbytes = os.path.getsize(data)
    top = last_ts(data)
    topic, admin = create_topic(addr, a.partitions)
    log("loading into %s (%d partitions) with kcat" % (topic, a.partitions))
    load_s = load(addr, topic, data, a.partitions, top + 120)
    frames = a.count + 4 * a.partitions
    last_minute = top // 60 * 60

    results = {"kcat": [], "kuniq": [], "python": []}
    for r in range(a.runs):
        log("run %d/%d: kcat" % (r + 1, a.runs))
        results["kcat"].append(run_kcat(addr, topic))
        log("run %d/%d: kuniq" % (r + 1, a.runs))
        results["kuniq"].append(run_kuniq(addr, topic, last_minute, frames))
    log("python consumer (confluent-kafka + json.loads + set per minute)")
    results["python"].append(run_python(addr, topic, a.partitions))
    outs = [r.pop("output_topic") for r in results["kuniq"]]
    delete_topics(admin, [topic] + outs)
    log("live latency: %d frames/s for %.0f s" % (a.live_rate, a.live_seconds))
    latency = live_latency(addr, a.live_seconds, a.live_rate, a.partitions)

    kc, ku, py = best(results["kcat"]), best(results["kuniq"]), best(results["python"])
    mb = nbytes / 1e6

    def row(name, secs, base):
        return "| %s | %.0f | %.0f | %.2f |" % (name, frames / secs, mb / secs, base / secs)

    lines = [
        "frames: %d (%.0f MB) in %d partitions; load with kcat -P: %.1f s (%.0f frames/s)"
        % (frames, mb, a.partitions, load_s, a.count / load_s),
        "",
        "| consumer (topic from the beginning to its end) | frames/s | MB/s | x kcat |",
        "|---|---:|---:|---:|",
        row("kcat -C -e -o beginning > /dev/null (client floor)", kc["seconds"], kc["seconds"]),
        row("kuniq, minute..year, results to a topic (from process start)", ku["seconds"],
            kc["seconds"]),
        row("kuniq, same run, from partition assignment (group join excluded)",
            ku["seconds_from_assignment"], kc["seconds"]),
        row("Python: confluent-kafka + json.loads + set per minute (from start)", py["seconds"],
            kc["seconds"]),
        "",
        "runs (seconds): kcat %s; kuniq %s (from assignment %s); python %s" % (
            ", ".join("%.2f" % r["seconds"] for r in results["kcat"]),
            ", ".join("%.2f" % r["seconds"] for r in results["kuniq"]),
            ", ".join("%.2f" % r["seconds_from_assignment"] for r in results["kuniq"]),
            ", ".join("%.2f" % r["seconds"] for r in results["python"])),
        "",
        "end-to-end latency, live stream of %d frames/s (ts = wall time), minute windows:"
        % latency["rate"],
    ]
    for m in latency["minutes"]:
        lines.append("  minute %d (%d frames): result readable %.2f s after the minute ended, "
                     "%.2f s after its last frame was produced (lateness 5 s included)"
                     % (m["minute"], m["frames"], m["after_end_s"], m["after_last_frame_s"]))
    if not latency["minutes"]:
        lines.append("  no minute ended during the live phase (use a longer --live-seconds)")
    print("\n".join(lines))
    with open(a.out, "w") as f:
        json.dump({"frames": frames, "bytes": nbytes, "partitions": a.partitions,
                   "load_seconds": load_s, "runs": results, "latency": latency}, f, indent=1)
    os.remove(data)


if __name__ == "__main__":
    main()
