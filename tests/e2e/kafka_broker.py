"""kafka_broker.py - a real Apache Kafka broker for the end-to-end tests, and helpers around it.

The session fixture `kafka` starts a single-node KRaft broker with scripts/kafka in a fresh
directory of its own (so a developer's broker from `make kafka-demo` is left alone), and stops it
and deletes its data at the end of the session. Nothing here mocks Kafka: topics are created
with the admin API, frames are loaded with kcat, special messages (empty, NULL, 1 MB) with
confluent-kafka's producer, and results are read back from the output topic.

Use: `from kafka_broker import kafka  # noqa: F401` in a test module, then a `kafka` argument.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(ROOT, "scripts", "kafka")

try:
    import confluent_kafka
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:  # pragma: no cover - reported as a failure, never a skip
    confluent_kafka = None


class Broker:
    """One broker run by scripts/kafka in its own directory."""

    def __init__(self, run_dir):
        self.env = dict(os.environ, KUNIQ_KAFKA_DIR=run_dir)
        self.run_dir = run_dir
        self.address = None

    def _script(self, *args, timeout=600):
        p = subprocess.run([SCRIPT] + list(args), env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError("scripts/kafka %s failed (%d):\n%s"
                                 % (" ".join(args), p.returncode, p.stderr.decode()[-3000:]))
        return p.stdout.decode().strip()

    def start(self):
        self.address = self._script("start")
        return self.address

    def stop(self):
        self._script("stop")

    def reset(self):
        self._script("reset")

    # -- topics --
    def admin(self):
        return AdminClient({"bootstrap.servers": self.address})

    def create_topic(self, partitions, prefix="t"):
        name = "%s-%s" % (prefix, uuid.uuid4().hex[:10])
        admin = self.admin()  # must outlive the futures
        fs = admin.create_topics([NewTopic(name, partitions, 1)])
        for f in fs.values():
            f.result(timeout=30)
        return name

    # -- producing --
    # idempotence keeps each partition in file order even when a request is retried (a fresh
    # broker answers the first requests with "not leader" errors)
    KCAT_P = ["kcat", "-P", "-X", "enable.idempotence=true"]

    def kcat_load(self, topic, path, partition=-1, extra=()):
        """Loads a file of lines with kcat (one message per line; kcat skips empty lines)."""
        with open(path, "rb") as f:
            subprocess.run(self.KCAT_P + ["-b", self.address, "-t", topic, "-p", str(partition)]
                           + list(extra), stdin=f, check=True, timeout=300)

    def kcat_writer(self, topic, partition):
        """A running `kcat -P` whose stdin takes lines; close() waits for it."""
        return subprocess.Popen(self.KCAT_P + ["-b", self.address, "-t", topic, "-p",
                                               str(partition)], stdin=subprocess.PIPE)

    def produce(self, topic, values, partition=None):
        """Produces values (bytes, or None for a tombstone) with confluent-kafka."""
        p = confluent_kafka.Producer({"bootstrap.servers": self.address,
                                      "enable.idempotence": True,
                                      "message.max.bytes": 4 * 1024 * 1024})
        for v in values:
            if partition is None:
                p.produce(topic, value=v)
            else:
                p.produce(topic, value=v, partition=partition)
        left = p.flush(60)
        assert left == 0, "%d messages not delivered to %s" % (left, topic)

    # -- reading --
    def read(self, topic, min_count=0, timeout=60):
        """Every message of a topic from the beginning, as (key, value, timestamp ms), waiting
        up to timeout s until there are at least min_count."""
        c = confluent_kafka.Consumer({"bootstrap.servers": self.address,
                                      "group.id": "reader-" + uuid.uuid4().hex,
                                      "enable.auto.commit": False,
                                      "auto.offset.reset": "earliest"})
        out = []
        deadline = time.monotonic() + timeout
        try:
            c.subscribe([topic])
            while time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    if len(out) >= min_count:
                        # nothing for 0.5 s and enough: done
                        break
                    continue
                if m.error():
                    continue
                key = m.key().decode() if m.key() is not None else None
                out.append((key, m.value(), m.timestamp()[1]))
        finally:
            c.close()
        return out

    def read_results(self, topic, min_count=0, timeout=60):
        """Result records of an output topic: list of (key, record dict, timestamp ms)."""
        return [(k, json.loads(v), ts) for k, v, ts in self.read(topic, min_count, timeout)]


class Kuniq:
    """A kuniq process in Kafka mode; stop() sends SIGTERM and returns its exit code."""

    running = []  # every process started; the kill_leftovers fixture ends those still running

    def __init__(self, binary, broker, args, tmp):
        self.err_path = os.path.join(str(tmp), "kuniq-%s.err" % uuid.uuid4().hex[:6])
        self.out_path = self.err_path[:-4] + ".out"
        self.cmd = [binary, "--brokers", broker.address] + list(args)
        self.err = open(self.err_path, "wb")
        self.out = open(self.out_path, "wb")
        self.p = subprocess.Popen(self.cmd, stdout=self.out, stderr=self.err)
        Kuniq.running.append(self)

    def alive(self):
        return self.p.poll() is None

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=90):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("kuniq did not stop within %d s of SIGTERM:\n%s"
                                 % (timeout, self.stderr()[-3000:]))
        self.err.close()
        self.out.close()
        return rc

    def summary(self):
        for line in reversed(self.stderr().splitlines()):
            if line.startswith('{"summary"'):
                return json.loads(line)["summary"]
        raise AssertionError("no summary line in kuniq's stderr:\n" + self.stderr()[-3000:])

    def kafka_stats(self):
        for line in reversed(self.stderr().splitlines()):
            if line.startswith('{"kafka"'):
                return json.loads(line)["kafka"]
        raise AssertionError("no kafka line in kuniq's stderr:\n" + self.stderr()[-3000:])


@pytest.fixture(autouse=True)
def kill_leftovers():
    """After each test: a kuniq a failed test left running is killed (never outlives it)."""
    yield
    while Kuniq.running:
        k = Kuniq.running.pop()
        if k.p.poll() is None:
            k.p.kill()
            k.p.wait()


@pytest.fixture(scope="session")
def kafka():
    if confluent_kafka is None:
        pytest.fail("the Kafka tests need the confluent-kafka Python package "
                    "(scripts/deps.sh installs it)", pytrace=False)
    if shutil.which("kcat") is None:
        pytest.fail("the Kafka tests need kcat (scripts/deps.sh installs it)", pytrace=False)
    run_dir = tempfile.mkdtemp(prefix="kuniq-kafka-")
    b = Broker(run_dir)
    b.start()
    try:
        yield b
    finally:
        try:
            b.reset()
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
