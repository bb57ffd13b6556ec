"""Parsing on several threads (--threads) changes nothing in the output: records and every
summary count are identical to a single-threaded run, on a stream with every kind of trouble
(delays beyond the lateness, malformed frames, bit flips, CRLF, an over-long line)."""
import json
import subprocess


def run(kuniq_bin, args, path):
    p = subprocess.run([kuniq_bin] + args + [path], capture_output=True, check=True)
    summary = json.loads(p.stderr.decode().strip().splitlines()[-1])["summary"]
    for k in ("elapsed_s", "frames_per_s", "mb_per_s"):
        summary.pop(k)
    return p.stdout.decode().splitlines(), summary


def test_threads_do_not_change_results(kuniq_bin, gen_bin, tmp_path):
    path = tmp_path / "rough.jsonl"
    with open(path, "wb") as f:
        subprocess.run([gen_bin, "--count", "60000", "--seed", "11", "--frame-size", "400",
                        "--delay", "30", "--delay-prob", "0.02", "--malformed-prob", "0.01",
                        "--bitflip-prob", "0.01", "--crlf", "--long-line-bytes", "70000"],
                       stdout=f, check=True)
    args = ["-w", "minute,hour,day", "--late", "update", "--early", "20"]
    one, s1 = run(kuniq_bin, args + ["--threads", "1"], str(path))
    assert len(one) > 10 and s1["frames_valid"] > 50000
    assert sum(s1["rejected"].values()) > 300 and s1["late"]["minute"] > 0
    for t in ("2", "3", "8"):
        many, sn = run(kuniq_bin, args + ["--threads", t], str(path))
        assert many == one
        assert sn == s1
