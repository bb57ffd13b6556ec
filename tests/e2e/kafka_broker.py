"""kafka_broker.py - a real Apache Kafka broker for the end-to-end tests, and helpers around it.

The session fixture `kafka` starts a single-node KRaft broker with scripts/kafka in a fresh
directory of its own (so a developer's broker from `make kafka-demo` is left alone), and stops it
and deletes its data at the end of the session. Nothing here mocks Kafka: topics are created
with the admin API, frames are loaded with kcat, special messages (empty, NULL, 1 MB) with
confluent-kafka's producer, and results are read back from the output topic.

Ports: every start of the broker picks free ports afresh (a restart never needs its old ports
free again). A client that must outlive restarts (kuniq in the restart test) connects through
`stable_address()`: a TCP relay owned by the test process, listening for the whole session, which
forwards to the broker's current port; the broker advertises the relay's address on a listener of
its own, so librdkafka's reconnections land on the relay too. While the broker is down the relay
accepts and closes at once, as a refused connection would.

Reading (`read`, `wait_count`) never guesses from silence: it takes the partitions' end offsets
(high watermarks) and reads up to them; any consumer error fails the test.

Use: a `kafka` argument in a test (the session fixture is conftest.py's, one broker for every
module); `Kuniq` runs kuniq against it.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
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


def free_port():
    """A port nobody listens on right now (the caller binds it soon after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Relay:
    """A TCP relay on a port of its own for the whole session, to the broker's current port."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.backend = None  # (host, port) or None while the broker is down
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            backend = self.backend
            try:
                if backend is None:
                    raise OSError("broker down")
                server = socket.create_connection(backend, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()  # as a refused connection: the client retries with backoff
                continue
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        self.sock.close()


class Broker:
    """One broker run by scripts/kafka in its own directory."""

    instances = []  # brokers of this session (conftest.py restarts one a failed test left down)

    def __init__(self, run_dir):
        self.env = dict(os.environ, KUNIQ_KAFKA_DIR=run_dir)
        self.run_dir = run_dir
        self.address = None
        self.relay = None
        self.relayed = False  # the running broker advertises the relay's listener
        self.down = True  # stopped by stop() (or not started yet)
        Broker.instances.append(self)

    def _script(self, *args, timeout=600):
        p = subprocess.run([SCRIPT] + list(args), env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError("scripts/kafka %s failed (%d):\n%s"
                                 % (" ".join(args), p.returncode, p.stderr.decode()[-3000:]))
        return p.stdout.decode().strip()

    def start(self):
        """Starts the broker (fresh free ports for every start after the first); returns its
        address for direct clients."""
        if not self.down and self._running():
            return self.address
        for attempt in range(3):
            if os.path.exists(os.path.join(self.run_dir, "data", "meta.properties")):
                self._new_ports()
            try:
                self.address = self._script("start")
                break
            except AssertionError:
                if attempt == 2:
                    raise  # a port was taken between its choice and the bind, three times
                self._script("stop")
        if self.relay is not None:
            self.relay.backend = ("127.0.0.1", self.relay_port) if self.relayed else None
        self.down = False
        return self.address

    def stop(self):
        self._script("stop")
        self.down = True
        if self.relay is not None:
            self.relay.backend = None

    def reset(self):
        self._script("reset")
        self.down = True
        Broker.instances.remove(self)
        if self.relay is not None:
            self.relay.close()

    def stable_address(self):
        """An address that stays valid across stop()/start() (the relay). The broker is
        restarted once if it runs without the relay's listener."""
        if self.relay is None:
            self.relay = Relay()
            if self._running():
                self.stop()
                self.start()
        return "127.0.0.1:%d" % self.relay.port

    def _running(self):
        p = subprocess.run([SCRIPT, "status"], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=60)
        return p.stdout.decode().startswith("running")

    def _new_ports(self):
        """Rewrites the run directory's ports (scripts/kafka keeps them in port, cport and
        server.properties) with free ones, adding the relay's listener when there is a relay."""
        port, cport = free_port(), free_port()
        while cport == port:
            cport = free_port()
        cfg_path = os.path.join(self.run_dir, "server.properties")
        with open(cfg_path) as f:
            cfg = f.read()
        listeners = "PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d" % (port, cport)
        advertised = "PLAINTEXT://127.0.0.1:%d" % port
        protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        self.relayed = self.relay is not None
        if self.relayed:
            self.relay_port = free_port()
            listeners += ",RELAYED://127.0.0.1:%d" % self.relay_port
            advertised += ",RELAYED://127.0.0.1:%d" % self.relay.port
            protocols += ",RELAYED:PLAINTEXT"
        for key, value in (("listeners", listeners), ("advertised.listeners", advertised),
                           ("listener.security.protocol.map", protocols),
                           ("controller.quorum.voters", "1@127.0.0.1:%d" % cport)):
            cfg, n = re.subn(r"(?m)^%s=.*$" % re.escape(key), "%s=%s" % (key, value), cfg)
            assert n == 1, "%s: no single %s line" % (cfg_path, key)
        with open(cfg_path, "w") as f:
            f.write(cfg)
        for name, value in (("port", port), ("cport", cport)):
            with open(os.path.join(self.run_dir, name), "w") as f:
                f.write("%d\n" % value)

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
        """Loads a file of lines with kcat (one message per line; kcat skips empty lines).
        partition -1: each message to a random partition (not librdkafka's sticky batches, which
        can leave a partition empty)."""
        random = ["-X", "sticky.partitioning.linger.ms=0"] if partition == -1 else []
        with open(path, "rb") as f:
            subprocess.run(self.KCAT_P + random + ["-b", self.address, "-t", topic, "-p",
                                                   str(partition)] + list(extra),
                           stdin=f, check=True, timeout=300)

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
    def _consumer(self):
        return confluent_kafka.Consumer({"bootstrap.servers": self.address,
                                         "group.id": "reader-" + uuid.uuid4().hex,
                                         "enable.auto.commit": False,
                                         "auto.offset.reset": "earliest"})

    @staticmethod
    def _watermarks(c, topic):
        """{partition: (low, high)}, or None while the topic does not exist."""
        t = c.list_topics(topic, timeout=10).topics.get(topic)
        if t is None or t.error is not None or not t.partitions:
            return None
        out = {}
        for p in t.partitions:
            out[p] = c.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p),
                                             timeout=10, cached=False)
        return out

    def end_offsets(self, topic):
        """{partition: high watermark} of an existing topic."""
        c = self._consumer()
        try:
            marks = self._watermarks(c, topic)
        finally:
            c.close()
        assert marks is not None, "topic %s does not exist" % topic
        return {p: high for p, (_, high) in marks.items()}

    def committed(self, topic, group):
        """{partition: committed offset of group} (-1001 where it has none)."""
        c = confluent_kafka.Consumer({"bootstrap.servers": self.address, "group.id": group,
                                      "enable.auto.commit": False})
        try:
            parts = [confluent_kafka.TopicPartition(topic, p)
                     for p in sorted(self.end_offsets(topic))]
            out = {}
            for tp in c.committed(parts, timeout=30):
                assert tp.error is None, "committed offsets of %s: %s" % (group, tp.error)
                out[tp.partition] = tp.offset
            return out
        finally:
            c.close()

    def wait_count(self, topic, min_count, timeout=60, alive=None):
        """Waits until the topic holds at least min_count messages (by its watermarks); alive,
        a callable, is checked on the way (a producer that died fails at once). Returns the
        watermarks {partition: (low, high)}."""
        c = self._consumer()
        deadline = time.monotonic() + timeout
        try:
            while True:
                marks = self._watermarks(c, topic)
                n = sum(h - lo for lo, h in marks.values()) if marks else 0
                if n >= min_count:
                    return marks
                if alive is not None:
                    alive()
                if time.monotonic() > deadline:
                    raise AssertionError("topic %s holds %d messages after %d s, want %d"
                                         % (topic, n, timeout, min_count))
                time.sleep(0.2)
        finally:
            c.close()

    def read(self, topic, min_count=0, timeout=60):
        """Every committed message of a topic (read_committed), as (key, value, timestamp ms) in
        partition then offset order: reads each partition up to its high watermark of the moment,
        again until at least min_count messages are there (up to timeout s). Transaction markers
        take offsets without being messages, so the end of a partition is its EOF event, not the
        offset of its last message. Fails on any consumer error."""
        deadline = time.monotonic() + timeout
        marks = self.wait_count(topic, min_count, timeout)
        while True:
            out = self._read_to(topic, marks, deadline, timeout)
            if len(out) >= min_count:
                return out
            if time.monotonic() > deadline:
                raise AssertionError("topic %s holds %d committed messages after %d s, want %d"
                                     % (topic, len(out), timeout, min_count))
            time.sleep(0.3)
            marks = self.wait_count(topic, 0, timeout)

    def _read_to(self, topic, marks, deadline, timeout):
        ends = {p: h for p, (lo, h) in marks.items() if h > lo}
        c = confluent_kafka.Consumer({"bootstrap.servers": self.address,
                                      "group.id": "reader-" + uuid.uuid4().hex,
                                      "enable.auto.commit": False,
                                      "enable.partition.eof": True,
                                      "isolation.level": "read_committed",
                                      "auto.offset.reset": "earliest"})
        out = {p: [] for p in ends}
        try:
            c.assign([confluent_kafka.TopicPartition(topic, p, marks[p][0]) for p in ends])
            while ends:
                if time.monotonic() > deadline:
                    raise AssertionError("reading %s: partitions %s not read up to offsets %s "
                                         "within %d s" % (topic, sorted(ends), ends, timeout))
                m = c.poll(0.5)
                if m is None:
                    continue
                p = m.partition()
                if m.error():
                    if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                        if p in ends and m.offset() >= ends[p]:
                            del ends[p]
                        continue
                    raise AssertionError("reading %s: consumer error: %s" % (topic, m.error()))
                if p not in ends or m.offset() >= ends[p]:
                    continue  # past the end offset taken at the start: not this read's
                key = m.key().decode() if m.key() is not None else None
                out[p].append((key, m.value(), m.timestamp()[1]))
                if m.offset() + 1 >= ends[p]:
                    del ends[p]
        finally:
            c.close()
        return [msg for p in sorted(out) for msg in out[p]]

    def read_results(self, topic, min_count=0, timeout=60):
        """Result records of an output topic: list of (key, record dict, timestamp ms)."""
        return [(k, json.loads(v), ts) for k, v, ts in self.read(topic, min_count, timeout)]


class Kuniq:
    """A kuniq process in Kafka mode; stop() sends SIGTERM and returns its exit code."""

    running = []  # every process started; the kill_leftovers fixture ends those still running

    def __init__(self, binary, broker, args, tmp, brokers=None):
        self.err_path = os.path.join(str(tmp), "kuniq-%s.err" % uuid.uuid4().hex[:6])
        self.out_path = self.err_path[:-4] + ".out"
        self.cmd = [binary, "--brokers", brokers or broker.address] + list(args)
        self.err = open(self.err_path, "wb")
        self.out = open(self.out_path, "wb")
        self.p = subprocess.Popen(self.cmd, stdout=self.out, stderr=self.err)
        Kuniq.running.append(self)

    def alive(self):
        return self.p.poll() is None

    def assert_alive(self):
        assert self.alive(), "kuniq exited with %s:\n%s" % (self.p.returncode,
                                                            self.stderr()[-3000:])

    def wait(self, timeout):
        """Waits for kuniq to exit by itself (-e); returns its exit code."""
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("kuniq did not exit within %d s:\n%s"
                                 % (timeout, self.stderr()[-3000:]))
        self.err.close()
        self.out.close()
        return rc

    def wait_for(self, what, cond, timeout):
        """Polls cond() until true while kuniq runs; fails naming what was awaited."""
        deadline = time.monotonic() + timeout
        while not cond():
            self.assert_alive()
            if time.monotonic() > deadline:
                raise AssertionError("waited %d s for %s:\n%s"
                                     % (timeout, what, self.stderr()[-3000:]))
            time.sleep(0.1)

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


# The fixtures are conftest.py's (one session broker for every test module; cleanup after each
# test); these names stay importable for the test modules' `from kafka_broker import ...`.
kafka = kill_leftovers = None


def broker_session():
    """The session broker (conftest.py's `kafka` fixture): started in a fresh directory, reset
    and deleted at the end."""
    if confluent_kafka is None:
        pytest.fail("the Kafka tests need the confluent-kafka Python package "
                    "(scripts/deps.sh installs it)", pytrace=False)
    if shutil.which("kcat") is None:
        pytest.fail("the Kafka tests need kcat (scripts/deps.sh installs it)", pytrace=False)
    run_dir = tempfile.mkdtemp(prefix="kuniq-kafka-")
    b = Broker(run_dir)
    try:
        b.start()
    except BaseException:
        Broker.instances.remove(b)  # not started: nothing to restart after each test
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    try:
        yield b
    finally:
        try:
            b.reset()
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


# -- reading topics written in transactions (exactly-once mode) ---------------------------------
# A topic written in transactions holds control records (commit/abort markers) that no consumer
# ever receives, and its high watermark counts them, so Broker.read(), which reads up to the high
# watermark message by message, cannot end there. These readers stop at each partition's end as a
# read_committed consumer sees it (partition EOF: the last stable offset), so they return exactly
# what any read_committed reader of the topic sees now: committed transactions and
# non-transactional records; nothing of an aborted transaction or of one still open.

def read_committed_messages(broker, topic, timeout=60):
    """Every message a read_committed consumer sees now, as (partition, offset, key bytes,
    value bytes, timestamp ms) in partition then offset order. A topic that does not exist reads
    as empty. Fails on any consumer error."""
    c = confluent_kafka.Consumer({"bootstrap.servers": broker.address,
                                  "group.id": "reader-" + uuid.uuid4().hex,
                                  "enable.auto.commit": False,
                                  "auto.offset.reset": "earliest",
                                  "isolation.level": "read_committed",
                                  "enable.partition.eof": True})
    out = []
    try:
        t = c.list_topics(topic, timeout=10).topics.get(topic)
        if t is None or t.error is not None or not t.partitions:
            return []
        waiting = set(t.partitions)
        c.assign([confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
                  for p in waiting])
        deadline = time.monotonic() + timeout
        while waiting:
            if time.monotonic() > deadline:
                raise AssertionError("reading %s (read_committed): partitions %s not read to "
                                     "their end within %d s" % (topic, sorted(waiting), timeout))
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    waiting.discard(m.partition())
                    continue
                raise AssertionError("reading %s: consumer error: %s" % (topic, m.error()))
            out.append((m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1]))
    finally:
        c.close()
    out.sort(key=lambda x: (x[0], x[1]))
    return out


def read_committed(broker, topic, timeout=60):
    """Broker.read() for a topic written in transactions: (key, value, timestamp ms) of every
    message a read_committed reader sees now, in partition then offset order."""
    return [(k.decode() if k is not None else None, v, ts)
            for _, _, k, v, ts in read_committed_messages(broker, topic, timeout)]


def read_committed_results(broker, topic, timeout=60):
    """Broker.read_results() for a topic written in transactions: (key, record dict, ts ms)."""
    return [(k, json.loads(v), ts) for k, v, ts in read_committed(broker, topic, timeout)]


def high_watermarks(broker, topic):
    """{partition: high watermark} as a read_uncommitted client sees it (records of open and
    aborted transactions and control records included); {} while the topic does not exist. (A
    read_committed consumer, librdkafka's default, is given the last stable offset instead.)"""
    c = confluent_kafka.Consumer({"bootstrap.servers": broker.address,
                                  "group.id": "reader-" + uuid.uuid4().hex,
                                  "enable.auto.commit": False,
                                  "isolation.level": "read_uncommitted"})
    try:
        t = c.list_topics(topic, timeout=10).topics.get(topic)
        if t is None or t.error is not None or not t.partitions:
            return {}
        return {p: c.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p),
                                           timeout=10, cached=False)[1]
                for p in t.partitions}
    finally:
        c.close()
