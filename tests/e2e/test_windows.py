"""Issue 3, windows: several days, month and year boundaries, leap years, multiple inputs,
gzip and stdin. kuniq against the oracle, plus checks that the boundaries were really crossed."""

import calendar
import gzip
import os

import pytest

from conftest import brute_force, valid_frames

ALL = "minute,hour,day,week,month,year"


def ts_of(*t):
    return calendar.timegm(tuple(t) + (0,) * (6 - len(t)) + (0, 0, 0))


def starts(result, kind):
    return [r["start"] for r in result.by_kind(kind)]


def test_several_days(e2e):
    # one frame per minute on average, ~10 days: day and week windows, both partial weeks
    path = e2e.gen(count=15000, rate=1, step=60, users=800, frame_size=150, seed=31,
                   start=ts_of(2016, 7, 11, 13, 39, 44))
    k, _ = e2e.compare(["-w", "minute,hour,day,week"], [path])
    assert len(starts(k, "day")) >= 10
    assert starts(k, "week") == [ts_of(2016, 7, 11), ts_of(2016, 7, 18)]
    truth = brute_force(valid_frames(path), ["day", "week"])
    assert {(r["window"], r["start"]): (r["uniques"], r["frames"])
            for r in k.records if r["window"] in ("day", "week")} == truth


def test_month_and_year_boundary(e2e):
    path = e2e.gen(count=6000, rate=1, step=20, users=1000, frame_size=150, seed=32,
                   start=ts_of(2016, 12, 31, 20))
    k, _ = e2e.compare(["-w", ALL], [path])
    assert starts(k, "month") == [ts_of(2016, 12, 1), ts_of(2017, 1, 1)]
    assert starts(k, "year") == [ts_of(2016, 1, 1), ts_of(2017, 1, 1)]
    assert starts(k, "week") == [ts_of(2016, 12, 26), ts_of(2017, 1, 2)]   # Mon Jan 2 2017
    ends = {r["window"]: r["end"] for r in k.records if r["start"] == ts_of(2016, 12, 1)}
    assert ends["month"] == ts_of(2017, 1, 1)


def leap_check(e2e, year, tz):
    path = e2e.gen(count=9000, rate=1, step=30, users=1000, frame_size=150, seed=year,
                   start=ts_of(year, 2, 27, 12))
    k, _ = e2e.compare(["-w", "hour,day,week,month,year", "--tz", tz], [path])
    days = {r["start"]: r["end"] - r["start"] for r in k.by_kind("day")}
    off = 3600 if tz != "UTC" else 0          # Zurich is UTC+1 in winter
    assert days[ts_of(year, 2, 29) - off] == 86400
    months = {r["start"]: r["end"] for r in k.by_kind("month")}
    assert months[ts_of(year, 2, 1) - off] == ts_of(year, 3, 1) - off


def test_leap_year_2016_utc(e2e):
    leap_check(e2e, 2016, "UTC")


def test_leap_year_2020_zurich(e2e):
    leap_check(e2e, 2020, "Europe/Zurich")


def test_gzip_input(e2e):
    plain = e2e.gen(count=20000, rate=50, users=2000, frame_size=200, seed=33,
                    malformed_prob=0.01)
    gz = plain + ".gz"
    with open(plain, "rb") as f, gzip.open(gz, "wb") as g:
        g.write(f.read())
    k1, _ = e2e.compare(["-w", "minute,hour"], [gz])
    k2 = e2e.kuniq(["-w", "minute,hour"], [plain])
    assert k1.records == k2.records
    assert k1.summary["frames_read"] == 20000


def test_multiple_files_and_stdin(e2e):
    path = e2e.gen(count=30000, rate=50, users=2000, frame_size=200, seed=34,
                   malformed_prob=0.01)
    data = open(path, "rb").read().split(b"\n")[:-1]
    a, b, c = data[:10000], data[10000:20000], data[20000:]
    pa = e2e.write("a.jsonl", b"\n".join(a) + b"\n")
    pc = e2e.write("c.jsonl", b"\n".join(c))            # no final newline
    pb = b"\n".join(b) + b"\n"
    k, _ = e2e.compare(["-w", "minute,hour"], [pa, "-", pc], stdin=pb)
    whole = e2e.kuniq(["-w", "minute,hour"], [path])
    assert k.records == whole.records
    assert k.summary["frames_read"] == 30000
    # stdin alone, and no file argument at all
    k2, _ = e2e.compare(["-w", "minute"], ["-"], stdin=open(path, "rb").read())
    k3 = e2e.kuniq(["-w", "minute"], [], stdin=open(path, "rb").read())
    assert k2.records == k3.records == whole.by_kind("minute")


def test_file_without_final_newline_ends_its_frame(e2e):
    f1 = e2e.write("x.jsonl", b'{"uid":"a","ts":1468244340}')
    f2 = e2e.write("y.jsonl", b'{"uid":"b","ts":1468244341}\n')
    empty = e2e.write("empty.jsonl", b"")
    k, _ = e2e.compare([], [f1, empty, f2])
    assert [(r["uniques"], r["frames"]) for r in k.records] == [(2, 2)]
    assert k.summary["frames_read"] == 2


def test_gzip_concatenated_members_and_empty(e2e):
    p = os.path.join(e2e.tmp, "multi.jsonl.gz")
    with open(p, "wb") as f:
        f.write(gzip.compress(b'{"uid":"a","ts":1468244340}\n'))
        f.write(gzip.compress(b'{"uid":"b","ts":1468244341}\n'))
    e = os.path.join(e2e.tmp, "empty.jsonl.gz")
    with open(e, "wb") as f:
        f.write(gzip.compress(b""))
    k, _ = e2e.compare([], [p, e])
    assert [(r["uniques"], r["frames"]) for r in k.records] == [(2, 2)]


ZONES = ["America/Sao_Paulo",    # DST began at local midnight: days starting at 01:00
         "Pacific/Apia",         # skipped 2011-12-30 entirely
         "Australia/Lord_Howe",  # 30-minute DST shift
         "Asia/Kolkata",         # +05:30, no DST
         "America/St_Johns",     # -03:30 / -02:30
         "Europe/London",        # +00:00 in winter
         "Asia/Tehran",          # +03:30, DST until 2022
         "America/Havana"]       # DST changes at midnight


@pytest.mark.parametrize("tz", ZONES)
def test_unusual_time_zones(e2e, tz):
    # 2011-2016, one frame per 3000 s; --max-ahead keeps every step a normal frame
    path = e2e.gen(count=63000, rate=1, step=3000, users=2000, frame_size=100, seed=35,
                   start=ts_of(2011, 1, 1))
    k, _ = e2e.compare(["-w", "day,week,month,year", "--tz", tz, "--max-ahead", "10000"],
                       [path])
    assert len(k.by_kind("year")) >= 6
    lengths = {r["end"] - r["start"] for r in k.by_kind("day")}
    if tz in ("Asia/Kolkata",):
        assert lengths == {86400}
    else:
        assert len(lengths) > 1
