"""`make install` and `make uninstall` into a temporary root, driving the real Makefile.

The installed programs are the optimised build (build/kuniq, build/kuniq-gen: what `make install`
copies, whatever KUNIQ_BIN says). The installed kuniq must count a generated stream exactly as the
kuniq under test does (KUNIQ_BIN: build/asan/kuniq under `make e2e-asan`), its man page must
render and mention every long option of its --help, the completion must be valid bash and
complete, and `make uninstall` must remove every installed file.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

PREFIX = "/usr"
EXPECTED = {
    "usr/bin/kuniq",
    "usr/bin/kuniq-gen",
    "usr/share/man/man1/kuniq.1",
    "usr/share/man/man1/kuniq-gen.1",
    "usr/share/bash-completion/completions/kuniq",
}
# summary fields that depend on the machine's speed, not on the input
TIMING = {"elapsed_s", "frames_per_s", "mb_per_s"}


def make(*args):
    """Runs make in the repository, outside any make that runs this test (no jobserver)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "--no-print-directory", "-C", ROOT, *args], env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"make {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def files_under(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("destdir"))
    make("install", f"DESTDIR={root}", f"PREFIX={PREFIX}")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run(args, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(args, stderr=subprocess.PIPE, timeout=300, **kw)


def test_installed_files(installed):
    assert files_under(installed) == EXPECTED
    for prog in ("kuniq", "kuniq-gen"):
        path = os.path.join(installed, "usr/bin", prog)
        assert os.access(path, os.X_OK), path
        with open(path, "rb") as a, open(os.path.join(ROOT, "build", prog), "rb") as b:
            assert a.read() == b.read(), f"{path} is not build/{prog}"


def test_default_prefix_is_usr_local():
    plan = make("-n", "install", "DESTDIR=/nonexistent-root")
    assert "/nonexistent-root/usr/local/bin" in plan
    assert "/nonexistent-root/usr/local/share/man/man1" in plan


def summary_counts(stderr):
    lines = [ln for ln in stderr.decode().splitlines() if ln.startswith('{"summary"')]
    assert len(lines) == 1, stderr
    s = json.loads(lines[0])["summary"]
    return {k: v for k, v in s.items() if k not in TIMING}


def test_installed_kuniq_runs_and_counts(installed, tmp_path, kuniq_bin, gen_bin):
    kuniq = os.path.join(installed, "usr/bin/kuniq")
    r = run([kuniq, "--version"])
    assert r.returncode == 0 and r.stdout.decode().startswith("kuniq "), r
    with open(os.path.join(ROOT, "VERSION")) as f:
        assert f.read().strip() in r.stdout.decode()

    stream = tmp_path / "stream.jsonl"
    gen = os.path.join(installed, "usr/bin/kuniq-gen")
    args = ["--count", "30000", "--rate", "50", "--users", "700", "--seed", "11",
            "--frame-size", "300", "--delay", "3", "--delay-prob", "0.1",
            "--malformed-prob", "0.01"]
    with open(stream, "wb") as f:
        assert run([gen, *args], stdout=f).returncode == 0
    with open(tmp_path / "ref.jsonl", "wb") as f:  # the installed generator is the built one
        assert run([gen_bin, *args], stdout=f).returncode == 0
    assert stream.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()

    opts = ["-w", "minute,hour", "--threads", "2", str(stream)]
    mine, ref = run([kuniq, *opts]), run([kuniq_bin, *opts])
    assert mine.returncode == 0, mine.stderr
    assert ref.returncode == 0, ref.stderr
    records = [json.loads(ln) for ln in mine.stdout.decode().splitlines()]
    assert len([r for r in records if r["window"] == "minute"]) >= 5  # ~600 s of stream
    assert sum(r["frames"] for r in records if r["window"] == "hour") > 29000
    assert mine.stdout == ref.stdout
    assert summary_counts(mine.stderr) == summary_counts(ref.stderr)
    assert summary_counts(mine.stderr)["rejected"], "the stream had no malformed frame"


def render_man(path):
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="200", MANPAGER="cat", PAGER="cat")
    r = run(["man", "--warnings", "-l", path], env=env)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr.decode().strip() == "", r.stderr.decode()
    text = r.stdout.decode()
    # hyphens and minus signs as typed on a terminal, formatting removed
    text = re.sub(".\b", "", text)
    return text.replace("\u2010", "-").replace("\u2212", "-").replace("\u2011", "-")


def test_man_pages(installed):
    man1 = os.path.join(installed, "usr/share/man/man1")
    for prog in ("kuniq", "kuniq-gen"):
        text = render_man(os.path.join(man1, prog + ".1"))
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "SEE ALSO"):
            assert re.search(rf"^{section}$", text, re.M), f"{prog}.1: no {section}"
        help_text = run([os.path.join(installed, "usr/bin", prog), "--help"]).stdout.decode()
        options = set(re.findall(r"--[a-z][a-z-]*[a-z]", help_text))
        assert len(options) > 20, help_text
        missing = sorted(o for o in options if not re.search(rf"(?<![\w-]){o}(?![\w-])", text))
        assert not missing, f"{prog}.1 does not mention {missing}"
    kuniq = render_man(os.path.join(man1, "kuniq.1"))
    for section in ("OUTPUT", "EXAMPLES"):
        assert re.search(rf"^{section}$", kuniq, re.M), f"kuniq.1: no {section}"
    for field in ("window", "start", "end", "start_iso", "uniques", "frames", "exact", "error",
                  "final", "revision", "late"):
        assert f'"{field}"' in kuniq


def complete(path, *words):
    """The completions bash offers for the command line `words` (the last word being typed)."""
    script = (f'. "{path}"\nCOMP_WORDS=({" ".join(repr(w) for w in words)})\n'
              f"COMP_CWORD={len(words) - 1}\n_kuniq\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    r = run(["bash", "--norc", "-c", script])
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().split()


def test_completion(installed):
    path = os.path.join(installed, "usr/share/bash-completion/completions/kuniq")
    r = run(["bash", "-n", path])
    assert r.returncode == 0, r.stderr.decode()
    r = run(["bash", "--norc", "-c", f'. "{path}" && complete -p kuniq'])
    assert r.stdout.decode().strip() == "complete -F _kuniq kuniq", r
    assert complete(path, "kuniq", "--mo") == ["--mode"]
    assert complete(path, "kuniq", "--mode", "") == ["exact", "approx", "auto"]
    assert complete(path, "kuniq", "--late", "") == ["drop", "update"]
    assert complete(path, "kuniq", "--parser", "") == ["auto", "scalar", "avx2"]
    assert complete(path, "kuniq", "-w", "minute,h") == ["minute,hour"]
    assert complete(path, "kuniq", "--windows=d") == ["--windows=day"]
    # every long option of --help is offered
    help_text = run([os.path.join(installed, "usr/bin/kuniq"), "--help"]).stdout.decode()
    offered = set(complete(path, "kuniq", "--"))
    missing = sorted(set(re.findall(r"--[a-z][a-z-]*[a-z]", help_text)) - offered)
    assert not missing, f"the completion does not offer {missing}"


def test_uninstall(tmp_path):
    root = str(tmp_path / "root")
    make("install", f"DESTDIR={root}", f"PREFIX={PREFIX}")
    assert files_under(root) == EXPECTED
    make("uninstall", f"DESTDIR={root}", f"PREFIX={PREFIX}")
    assert files_under(root) == set()
