"""The comparison of conftest.py (kuniq against the oracle) can fail: each plausible kind of bug in
a record or in the summary is caught, and what must be equal is not excused. No kuniq run here."""

import copy

import pytest

from conftest import (compare_records, compare_summaries, precision_of, sketch_rse,
                      sketch_tolerance)

EXACT = {"window": "minute", "start": 1468244340, "end": 1468244400,
         "start_iso": "2016-07-11T13:39:00Z", "uniques": 41230, "frames": 59987, "exact": True,
         "error": 0, "final": True, "revision": 0, "late": 0, "late_window": 0}
SKETCH = dict(EXACT, uniques=100000, frames=150000, exact=False, error=0.00537122)
SUMMARY = {"frames_read": 1000, "frames_valid": 990,
           "rejected": {"empty": 4, "not_json": 6, "ts_ahead": 0},
           "late": {"minute": 3}, "bytes": 150000, "elapsed_s": 0.5, "frames_per_s": 2000,
           "mb_per_s": 0.3, "windows_emitted": 7, "emit_errors": 0, "out_of_memory": 0}


def oracle_of(rec):
    """The oracle's form of a record: exact counts (uniques is the truth), error 0."""
    return dict(rec, error=0)


def test_sketch_error_formula():
    # docs/counting.md: 0.343758 / sqrt(2^p), 0.537 % at p = 12
    assert abs(sketch_rse(12) - 0.0053712) < 1e-7
    assert abs(sketch_rse(14) - sketch_rse(12) / 2) < 1e-12
    assert sketch_tolerance(100000) == pytest.approx(4 * 0.0053712 * 100000, rel=1e-4)
    assert sketch_tolerance(10) == 1.0
    assert precision_of(["-w", "minute", "--precision", "14"]) == 14
    assert precision_of(["--precision=10"]) == 10
    assert precision_of([]) == 12


def test_equal_records_pass():
    assert compare_records([EXACT], [oracle_of(EXACT)]) == ""
    # within 4 sigma of the truth (2148 at 100000): accepted
    assert compare_records([dict(SKETCH, uniques=102100)], [oracle_of(SKETCH)]) == ""
    # start_iso of UTC: Z and +00:00 are the same instant
    assert compare_records([EXACT], [dict(oracle_of(EXACT),
                                          start_iso="2016-07-11T13:39:00+00:00")]) == ""


@pytest.mark.parametrize("field,value", [
    ("window", "hour"), ("start", 1468244341), ("end", 1468244460), ("uniques", 41231),
    ("frames", 59986), ("exact", False), ("final", False), ("revision", 1), ("late", 1),
    ("start_iso", "2016-07-11T15:39:00+02:00"), ("error", 0.00537122),
    ("uniques", 41230.0), ("late", False), ("revision", "0")])
def test_each_field_of_an_exact_record_is_compared(field, value):
    bad = dict(EXACT, **{field: value})
    assert compare_records([bad], [oracle_of(EXACT)]) != ""


@pytest.mark.parametrize("change", [
    {"uniques": 102200},                 # 2.2 % off: beyond 4 sigma
    {"uniques": 97800},
    {"error": 0.01},                     # not the sketch's RSE
    {"error": 0},
    {"error": 0.00268561},               # the RSE of p = 14, while p = 12
    {"frames": 150001},                  # frames are exact even in a sketch record
])
def test_sketch_record_bounds(change):
    assert compare_records([dict(SKETCH, **change)], [oracle_of(SKETCH)]) != ""


def test_sketch_precision_from_args():
    rec = dict(SKETCH, error=0.00268561, uniques=101000)   # p = 14: tolerance 1.07 %
    assert compare_records([rec], [oracle_of(SKETCH)], precision_of(["--precision", "14"])) == ""
    assert compare_records([dict(rec, uniques=101200)], [oracle_of(SKETCH)], 14) != ""


def test_record_shape_and_count():
    missing = dict(EXACT)
    del missing["late"]
    assert compare_records([missing], [oracle_of(EXACT)]) != ""
    extra = dict(EXACT, more=1)
    assert compare_records([extra], [oracle_of(EXACT)]) != ""
    reordered = {k: EXACT[k] for k in reversed(list(EXACT))}
    assert compare_records([reordered], [oracle_of(EXACT)]) != ""
    assert compare_records([EXACT], [oracle_of(EXACT), oracle_of(EXACT)]) != ""
    assert compare_records([EXACT, EXACT], [oracle_of(EXACT)]) != ""
    other = dict(EXACT, start=EXACT["start"] + 60, end=EXACT["end"] + 60,
                 start_iso="2016-07-11T13:40:00Z")
    assert compare_records([other, EXACT], [oracle_of(EXACT), oracle_of(other)]) != ""


def test_equal_summaries_pass():
    assert compare_summaries(SUMMARY, copy.deepcopy(SUMMARY)) == ""
    # the timings cannot be compared with the oracle's
    assert compare_summaries(SUMMARY, dict(SUMMARY, elapsed_s=9, frames_per_s=1,
                                           mb_per_s=5)) == ""


@pytest.mark.parametrize("path,value", [
    (("frames_read",), 1001), (("frames_valid",), 989), (("bytes",), 149000),
    (("windows_emitted",), 6), (("emit_errors",), 1), (("out_of_memory",), 1),
    (("rejected", "empty"), 5), (("rejected", "ts_range"), 0), (("late", "minute"), 2),
    (("late", "hour"), 0), (("elapsed_s",), -1), (("frames_per_s",), 3000),
    (("mb_per_s",), 1.5), (("bytes",), 150000.0)])
def test_each_summary_field_is_checked(path, value):
    bad = copy.deepcopy(SUMMARY)
    d = bad
    for key in path[:-1]:
        d = d[key]
    d[path[-1]] = value
    assert compare_summaries(bad, SUMMARY) != ""


@pytest.mark.parametrize("field", ["bytes", "windows_emitted", "emit_errors", "out_of_memory",
                                   "mb_per_s", "rejected"])
def test_summary_field_missing_in_kuniq(field):
    bad = copy.deepcopy(SUMMARY)
    del bad[field]
    assert compare_summaries(bad, SUMMARY) != ""
