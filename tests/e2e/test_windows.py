"""Windows: several days, month and year boundaries, leap years, multiple inputs,
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
    """Frames every 30 s from Feb 27 12:00 UTC for 75 h (to Mar 1 15:00): hand-computed windows
    of a leap year. Zurich is UTC+1 all that time (its DST begins in late March)."""
    path = e2e.gen(count=9000, rate=1, step=30, users=1000, frame_size=150, seed=year,
                   start=ts_of(year, 2, 27, 12))
    k, _ = e2e.compare(["-w", "hour,day,week,month,year", "--tz", tz], [path])
    off = 3600 if tz != "UTC" else 0
    days = [(r["start"] + off, r["end"] + off) for r in k.by_kind("day")]
    # Feb 29 is a day of its own, between Feb 28 and Mar 1
    assert days == [(ts_of(year, 2, d), ts_of(year, 2, d + 1)) for d in (27, 28)] + \
        [(ts_of(year, 2, 29), ts_of(year, 3, 1)), (ts_of(year, 3, 1), ts_of(year, 3, 2))]
    months = [(r["start"] + off, r["end"] - r["start"]) for r in k.by_kind("month")]
    march = 31 * 86400 - (3600 if tz != "UTC" else 0)   # Zurich's DST begins in late March
    assert months == [(ts_of(year, 2, 1), 29 * 86400), (ts_of(year, 3, 1), march)]
    years = [(r["start"] + off, r["end"] - r["start"]) for r in k.by_kind("year")]
    assert years == [(ts_of(year, 1, 1), 366 * 86400)]
    # the frames of Feb 29 are counted there: 2880 of them (one per 30 s), exactly
    feb29 = [r for r in k.by_kind("day") if r["start"] + off == ts_of(year, 2, 29)][0]
    assert feb29["frames"] == 2880
    truth = brute_force(valid_frames(path), ["day", "month"], tz)
    assert truth[("day", feb29["start"])] == (feb29["uniques"], 2880)


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


# Hand-checked facts of the tz database, 2011-2016, per zone: the DST shift in seconds (0: none),
# and two days whose length it changes, as (UTC start of the local day, length in seconds).
DST = {
    # DST began at local midnight: the day of 2011-10-16 starts at 01:00 -02:00 and has 23 h
    "America/Sao_Paulo": (3600, [(ts_of(2011, 10, 16, 3), 82800),
                                 (ts_of(2012, 2, 25, 2), 90000)]),
    # 2011-12-30 does not exist: Dec 29 (-10:00) is followed by Dec 31 (+14:00), 24 h later
    "Pacific/Apia": (3600, [(ts_of(2011, 9, 24, 11), 82800),
                            (ts_of(2011, 12, 29, 10), 86400)]),
    "Australia/Lord_Howe": (1800, [(ts_of(2011, 10, 1, 13, 30), 84600),
                                   (ts_of(2011, 4, 2, 13), 88200)]),
    "Asia/Kolkata": (0, [(ts_of(2013, 6, 30, 18, 30), 86400)]),
    "America/St_Johns": (3600, [(ts_of(2011, 3, 13, 3, 30), 82800),
                                (ts_of(2011, 11, 6, 2, 30), 90000)]),
    "Europe/London": (3600, [(ts_of(2011, 3, 27), 82800), (ts_of(2011, 10, 29, 23), 90000)]),
    # DST began at local midnight (00:00 +03:30 -> 01:00 +04:30)
    "Asia/Tehran": (3600, [(ts_of(2011, 3, 21, 20, 30), 82800),
                           (ts_of(2011, 9, 20, 19, 30), 90000)]),
    "America/Havana": (3600, [(ts_of(2011, 3, 20, 5), 82800), (ts_of(2011, 11, 13, 4), 90000)]),
}


@pytest.mark.parametrize("tz", ZONES)
def test_unusual_time_zones(e2e, tz):
    # 2011-2016, one frame per 6000 s (every day has 14 or 15), default options: every step of
    # the clock is a jump (frames more than --max-ahead apart), and windows close as the stream
    # goes (within J + R = 24 frames), not only at its end
    path = e2e.gen(count=31500, rate=1, step=6000, users=2000, frame_size=100, seed=35,
                   start=ts_of(2011, 1, 1))
    k, _ = e2e.compare(["-w", "day,week,month,year", "--tz", tz], [path])
    kinds = [r["window"] for r in k.records]
    assert kinds.index("week") < len(kinds) - 1 - kinds[::-1].index("day")  # closed as it went
    # every year from 2011 to 2016 (and 2010's last hours west of Greenwich), at local midnight
    years = [r["start_iso"] for r in k.by_kind("year")]
    assert all(y[4:19] == "-01-01T00:00:00" for y in years), years
    assert [y[:4] for y in years if y >= "2011"] == [str(y) for y in range(2011, 2017)]
    days = {r["start"]: r["end"] - r["start"] for r in k.by_kind("day")}
    shift, known = DST[tz]
    for start, length in known:
        assert days.get(start) == length, (tz, start, days.get(start), length)
    # consecutive days: each day ends where the next one starts
    starts = sorted(days)
    assert all(s + days[s] == n for s, n in zip(starts, starts[1:]))
    # one shorter and one longer day per year for the six years of DST, all others 24 h
    lengths = sorted(days.values())
    if shift:
        assert lengths.count(86400 - shift) == lengths.count(86400 + shift) == 6, tz
        assert set(lengths) == {86400 - shift, 86400, 86400 + shift}
    else:
        assert set(lengths) == {86400}
    if tz == "Pacific/Apia":
        # the skipped day: no day window has 2011-12-30 as its local date
        assert not any(r["start_iso"].startswith("2011-12-30") for r in k.by_kind("day"))
        assert any(r["start_iso"] == "2011-12-31T00:00:00+14:00" for r in k.by_kind("day"))


def test_havana_midnight_twice(e2e):
    """America/Havana, 2014-11-02: DST ends at 01:00 -> 00:00, so local midnight occurs twice;
    the day starts at the first one (00:00 -04:00). Once kuniq got this wrong with -w day,month
    (docs/testing.md, disagreements). Frames every 60 s from Nov 1 22:00 to Nov 2 03:00 local."""
    start = ts_of(2014, 11, 2, 2)                 # Nov 1 22:00 -04:00
    lines = [b'{"uid":"u%d","ts":%d}' % (i % 50, start + 60 * i) for i in range(360)]
    path = e2e.write("havana.jsonl", b"\n".join(lines) + b"\n")
    for kinds in ("day,month", "day"):
        k, _ = e2e.compare(["-w", kinds, "--tz", "America/Havana"], [path])
        days = [(r["start"], r["end"], r["start_iso"], r["frames"]) for r in k.by_kind("day")]
        # Nov 1: 22:00..23:59 (120 frames); Nov 2: 25 h long (00:00 -04:00 .. Nov 3 00:00 -05:00)
        assert days == [(ts_of(2014, 11, 1, 4), ts_of(2014, 11, 2, 4),
                         "2014-11-01T00:00:00-04:00", 120),
                        (ts_of(2014, 11, 2, 4), ts_of(2014, 11, 3, 5),
                         "2014-11-02T00:00:00-04:00", 240)], kinds
