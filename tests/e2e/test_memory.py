"""--memory-limit and memory running out (README, Counting error; docs/counting.md): a window
whose exact set cannot grow becomes its sketch in auto mode and fails the run in exact mode, and
no record ever says "exact":true for a count that misses users - also when malloc itself fails
(address space limited with prlimit). Plus the per-window late count against the oracle."""

import json
import os
import resource
import subprocess

import pytest

from conftest import ROOT, RUN_TIMEOUT, parse_summary, sketch_rse, sketch_tolerance, valid_frames

T0 = 1468244340  # a minute boundary


def binary(e2e, as_limit):
    """The build to run: AddressSanitizer reserves terabytes of address space for its shadow
    memory, so under an address-space limit (ulimit -v) an ASan build cannot even start; those
    cases run the optimised build beside it (make test builds both)."""
    if as_limit and "/asan/" in e2e.kuniq_bin:
        return os.path.join(ROOT, "build", "kuniq")
    return e2e.kuniq_bin


def run(e2e, args, files, as_limit=None):
    """kuniq with an optional address-space limit (ulimit -v); (returncode, records, stderr)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
    p = subprocess.run([binary(e2e, as_limit)] + list(args) + list(files), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=RUN_TIMEOUT,
                       preexec_fn=limit if as_limit else None)
    recs = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    return p.returncode, recs, p.stderr.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def users_300k(tmp_path_factory, gen_bin):
    """300,000 distinct users in one minute, and that number counted independently."""
    path = str(tmp_path_factory.mktemp("mem") / "u300k.jsonl")
    with open(path, "wb") as f:
        subprocess.run([gen_bin, "--count", "300000", "--users", "0", "--rate", "10000",
                        "--frame-size", "50", "--start", str(T0)], stdout=f, check=True)
    truth = len({uid for uid, ts in valid_frames(path)})
    return path, truth


def the_minute(recs):
    assert len(recs) == 1, recs
    assert recs[0]["start"] == T0
    return recs[0]


def test_auto_past_the_limit_is_the_sketch(e2e, users_300k):
    path, truth = users_300k
    assert truth > 299000
    # 300,000 users need a 4 MiB table (6 MiB while it doubles): 8M still counts them exactly
    rc, recs, err = run(e2e, ["--memory-limit", "8M"], [path])
    assert rc == 0, err
    r = the_minute(recs)
    assert r["exact"] is True and r["uniques"] == truth
    # 4M does not: the window is its sketch, within the documented error
    rc, recs, err = run(e2e, ["--memory-limit", "4M"], [path])
    assert rc == 0, err
    r = the_minute(recs)
    assert r["exact"] is False
    assert r["error"] == pytest.approx(sketch_rse(), rel=1e-5)
    assert abs(r["uniques"] - truth) <= sketch_tolerance(truth)
    assert r["frames"] == 300000
    # bit for bit the sketch --mode approx holds
    rc, arecs, err = run(e2e, ["--mode", "approx"], [path])
    assert rc == 0, err
    assert the_minute(arecs)["uniques"] == r["uniques"]


def test_exact_past_the_limit_fails(e2e, users_300k):
    path, truth = users_300k
    rc, recs, err = run(e2e, ["--mode", "exact", "--memory-limit", "4M"], [path])
    assert rc == 1
    assert "--memory-limit 4 MiB" in err and "2016-07-11T13:39:00Z" in err, err
    assert not [r for r in recs if r["exact"] and r["uniques"] != truth]
    assert recs == []
    assert parse_summary(err)["out_of_memory"] > 0
    rc, recs, err = run(e2e, ["--mode", "exact", "--memory-limit", "8M"], [path])
    assert rc == 0, err
    assert the_minute(recs)["uniques"] == truth


@pytest.fixture(scope="module")
def users_3m(tmp_path_factory, gen_bin, kuniq_bin):
    """3,000,000 distinct users in one minute; the truth is kuniq's exact count without limits
    (exact counting itself is compared with the oracle by the other suites)."""
    path = str(tmp_path_factory.mktemp("mem") / "u3m.jsonl")
    with open(path, "wb") as f:
        subprocess.run([gen_bin, "--count", "3000000", "--users", "0", "--rate", "100000",
                        "--frame-size", "50", "--start", str(T0)], stdout=f, check=True)
    p = subprocess.run([kuniq_bin, "--mode", "exact", "--memory-limit", "4G", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    recs = [json.loads(l) for l in p.stdout.decode().splitlines()]
    assert len(recs) == 1 and recs[0]["exact"]
    return path, recs[0]["uniques"]


# (mode, extra options, address space): the default limit under ulimit -v (the budget refuses
# before malloc fails), and a limit far above what the address space allows (malloc fails first)
ULIMIT_CASES = [
    ("auto", [], 100_000_000),
    ("exact", [], 100_000_000),
    ("auto", ["--exact-limit", "100000000", "--memory-limit", "10G"], 60_000_000),
    ("exact", ["--memory-limit", "10G"], 60_000_000),
]


@pytest.mark.parametrize("mode,extra,as_limit", ULIMIT_CASES)
def test_ulimit_never_a_wrong_exact(e2e, users_3m, mode, extra, as_limit):
    path, truth = users_3m
    rc, recs, err = run(e2e, ["--threads", "1", "--mode", mode] + extra, [path], as_limit)
    for r in recs:
        if r["exact"]:
            assert r["uniques"] == truth, r
        else:
            assert abs(r["uniques"] - truth) <= sketch_tolerance(truth), r
    if rc != 0:
        assert rc == 1 and "kuniq: error:" in err, err
        assert mode == "exact"
    else:
        assert len(recs) == 1
    if mode == "exact" and "--memory-limit" in extra:
        # 32 MiB table + 16 MiB while doubling do not fit in 60 MB of address space
        assert rc == 1 and "out of memory" in err, err


def test_late_window_matches_the_oracle(e2e):
    # frames delayed up to 90 s with lateness 1: many late frames, some revising kept windows
    path = e2e.gen(count=20000, rate=40, users=300, frame_size=120, delay=90, delay_prob=0.05,
                   seed=7)
    k, o = e2e.compare(["--late", "update", "--lateness", "1", "-w", "minute,hour"], [path])
    revised = [r for r in k.records if r["revision"] > 0]
    assert revised and all(r["late_window"] > 0 for r in revised)
    assert any(r["late_window"] < r["late"] for r in revised)
    # drop mode: nothing is ever counted into an emitted window
    k, o = e2e.compare(["--lateness", "1"], [path])
    assert k.summary["late"]["minute"] > 0
    assert all(r["late_window"] == 0 for r in k.records)
