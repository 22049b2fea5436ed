"""`fragpool capture` does what tcpdump's flags promise: pipes, argument errors, output
files, link types, and the printed lines (against `tcpdump -n -r`)."""

from __future__ import annotations

import gzip
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from captures_util import need_tool, pcapng_file, read_all, slow_writer
from filter_corpus import write_corpus

from fragpool.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "fragpool" / "data" / "sample.pcap"


def fragpool_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "fragpool", *args]


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(fragpool_cmd(*args), capture_output=True, timeout=120, env=env, **kw)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.pcap")


# -- pipes ---------------------------------------------------------------------------------


def test_read_standard_input_plain_and_gzipped():
    plain = run("capture", "-r", "-", "-c", "5", "udp", input=SAMPLE.read_bytes())
    packed = run("capture", "-r", "-", "-c", "5", "udp", input=gzip.compress(SAMPLE.read_bytes()))
    direct = run("capture", "-r", str(SAMPLE), "-c", "5", "udp")
    assert plain.returncode == packed.returncode == direct.returncode == 0, packed.stderr
    assert plain.stdout == packed.stdout == direct.stdout and len(direct.stdout.splitlines()) == 5


def test_write_standard_output_is_the_capture_and_nothing_else(tmp_path):
    proc = run("capture", "-r", str(SAMPLE), "-w", "-")
    assert proc.returncode == 0 and proc.stdout == SAMPLE.read_bytes()  # byte-identical copy
    assert b"2500 packets written to standard output" in proc.stderr


def test_write_standard_output_into_tcpdump(corpus):
    tcpdump = need_tool("tcpdump")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ours = subprocess.Popen(fragpool_cmd("capture", "-r", str(corpus), "-w", "-", "tcp"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    piped = subprocess.run([tcpdump, "-n", "-r", "-"], stdin=ours.stdout, capture_output=True,
                           text=True, timeout=60, check=True)  # fmt: skip
    ours.stdout.close()
    assert ours.wait(60) == 0
    direct = subprocess.run([tcpdump, "-n", "-r", str(corpus), "tcp"], capture_output=True,
                            text=True, timeout=60, check=True)  # fmt: skip
    assert piped.stdout == direct.stdout and piped.stdout.count("\n") > 5


def test_a_reader_that_stops_early_ends_the_capture_quietly(corpus):
    proc = subprocess.run(
        f"{sys.executable} -m fragpool capture -r {SAMPLE} | head -1",
        shell=True, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.stdout.count("\n") == 1 and "Error" not in proc.stderr, proc.stderr


# -- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-r", "F", "-c", "0"], "argument -c: -c must be >= 1, not 0"),
        (["-r", "F", "-c", "-1"], "argument -c: -c must be >= 1, not -1"),
        (["-r", "F", "-c", "x"], "-c must be a whole number"),
        (["-r", "F", "-i", "lo"], "-r and -i name two sources"),
        ([], "give a source"),
        (["-r", "F", "--filter", "udp", "tcp"], "give the filter once"),
        (["-r", "F", "-C", "1"], "-C rotates the -w file"),
        (["-r", "F", "-w", "-", "-C", "1"], "cannot rotate standard output"),
        (["-r", "F", "-w", "x", "-W", "2"], "-W needs -C or -G"),
        (["-r", "F", "-w", "-", "--json"], "--json and -w - both write to standard output"),
    ],
)
def test_argument_errors_show_the_subcommands_usage(argv, message, capsys):
    with pytest.raises(SystemExit) as ei:
        main(["capture", *argv])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: fragpool capture ") and message in err


@pytest.mark.parametrize(
    "out, reason",
    [
        ("/nonexistent/x.pcap", "No such file or directory"),
        ("/dev/full", "No space left on device"),
    ],  # fmt: skip
)
def test_output_file_errors_are_one_line_naming_the_file(out, reason):
    proc = run("capture", "-r", str(SAMPLE), "-w", out)
    assert proc.returncode == 1
    header = f"reading from file {SAMPLE}, link-type EN10MB (Ethernet), snapshot length 65535"
    # tcpdump's order: what is read, then the one line of the error
    assert proc.stderr.decode() == f"{header}\nfragpool capture: {out}: {reason}\n"


def test_driver_honours_count():
    import json

    proc = run("driver", "-r", str(SAMPLE), "-c", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total"]["packets"] == 10
    assert run("driver", "-c", "0").returncode == 2


def test_list_interfaces_names_loopback(capsys):
    assert main(["capture", "-D"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.split(".", 1)[1].startswith("lo [Up") and "Loopback" in ln for ln in lines)


# -- link types ----------------------------------------------------------------------------


@pytest.fixture
def two_link_types(tmp_path) -> Path:
    ether = bytes.fromhex("0200000000020200000000010800") + bytes.fromhex("4500001c") + bytes(16)
    raw = bytes.fromhex("4500001c") + bytes(16) + bytes(8)
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(pcapng_file([{"order": "<", "ifaces": [(1, 9, 0), (101, 9, 0)],
                                   "packets": [(0, 10, len(ether), ether), (1, 20, len(raw), raw),
                                               (0, 30, len(ether), ether)]}]))  # fmt: skip
    return path


def test_two_link_types_into_classic_pcap_is_an_error_that_suggests_pcapng(
    two_link_types, tmp_path
):
    out = tmp_path / "out.pcap"
    proc = run("capture", "-r", str(two_link_types), "-w", str(out))
    assert proc.returncode == 1
    header, err = proc.stderr.decode().splitlines()  # tcpdump's header, then one line
    assert header.startswith(f"reading from file {two_link_types}, link-type EN10MB")
    assert f"{out}: packet 2 has link type RAW (101)" in err and "EN10MB (1)" in err
    assert "write pcapng" in err


def test_two_link_types_into_pcapng_keep_each_their_own(two_link_types, tmp_path):
    out = tmp_path / "out.pcapng"
    assert run("capture", "-r", str(two_link_types), "-w", str(out)).returncode == 0
    back = read_all(out)
    assert [p["linktype"] for p in back] == [1, 101, 1]
    assert [p["data"] for p in back] == [p["data"] for p in read_all(two_link_types)]


# -- rotation ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory) -> Path:
    """About 3.4 MB: the sample's records four times over, timestamps kept increasing."""
    data = SAMPLE.read_bytes()
    header, body = data[:24], data[24:]
    out = bytearray(header)
    for rep in range(4):
        at = 0
        while at < len(body):
            sec, usec, incl, orig = struct.unpack_from("<IIII", body, at)
            out += struct.pack("<IIII", sec + rep * 10, usec, incl, orig)
            out += body[at + 16 : at + 16 + incl]
            at += 16 + incl
    path = tmp_path_factory.mktemp("big") / "big.pcap"
    path.write_bytes(bytes(out))
    return path


@pytest.mark.parametrize("extra", [["-C", "1"], ["-C", "1", "-W", "2"], ["-C", "1", "-W", "12"]])
def test_size_rotation_makes_the_files_tcpdump_makes(extra, big_capture, tmp_path):
    ours_dir, ref_dir = tmp_path / "ours", tmp_path / "ref"
    ours_dir.mkdir()
    ref_dir.mkdir()
    assert main(["capture", "-r", str(big_capture), "-w", str(ours_dir / "rot"), *extra]) == 0
    tcpdump = need_tool("tcpdump")
    cmd = [tcpdump, "-Z", "root", "-r", str(big_capture), "-w", str(ref_dir / "rot"), *extra]
    subprocess.run(cmd, capture_output=True, check=True, timeout=60)
    ours = {p.name: p.read_bytes() for p in ours_dir.iterdir()}
    ref = {p.name: p.read_bytes() for p in ref_dir.iterdir()}
    assert sorted(ours) == sorted(ref) and len(ours) >= 2
    assert ours == ref


def _trickle(proc: subprocess.Popen, seconds: float, signal_at: float | None = None) -> None:
    """Feed the sample to ``proc``'s stdin over ``seconds``; SIGINT it at ``signal_at``."""
    import signal
    import time

    data = SAMPLE.read_bytes()
    step = len(data) // 20
    start = time.monotonic()
    for i in range(0, len(data), step):
        proc.stdin.write(data[i : i + step])
        proc.stdin.flush()
        time.sleep(seconds / 20)
        if signal_at is not None and time.monotonic() - start >= signal_at:
            proc.send_signal(signal.SIGINT)
            signal_at = None
    proc.stdin.close()


def test_time_rotation_names_files_by_strftime_and_stops_at_the_count(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    pattern = str(tmp_path / "t-%H%M%S.pcap")
    proc = subprocess.Popen(fragpool_cmd("capture", "-r", "-", "-w", pattern, "-G", "1"),
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    _trickle(proc, 3.0)
    assert proc.wait(60) == 0, proc.stderr.read()
    files = sorted(tmp_path.glob("t-*.pcap"))
    assert len(files) >= 2
    assert sum(len(read_all(f)) for f in files) == 2500  # every file whole, none lost
    limited = tmp_path / "w"
    limited.mkdir()
    proc = subprocess.Popen(fragpool_cmd("capture", "-r", "-", "-w", str(limited / "x-%H%M%S"),
                                         "-G", "1", "-W", "2"),
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    try:
        _trickle(proc, 4.0)
    except BrokenPipeError:
        pass  # it stopped reading at the limit, as it should
    assert proc.wait(60) == 0
    assert "Maximum file limit reached: 2" in proc.stderr.read().decode()
    names = [f.name for f in limited.iterdir()]
    assert len(names) == 2
    # tcpdump's names: the pattern's time alone (a number is added only with -C)
    assert all(re.fullmatch(r"x-\d{6}", name) for name in names), names


def test_a_signal_leaves_every_rotated_file_complete(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(fragpool_cmd("capture", "-r", "-", "-w", str(tmp_path / "s-%H%M%S"),
                                         "-G", "1"),
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    try:
        _trickle(proc, 3.0, signal_at=1.5)
    except BrokenPipeError:
        pass
    assert proc.wait(60) == 0
    files = sorted(tmp_path.iterdir())
    total = sum(len(read_all(f)) for f in files)  # strict reads: a cut record would raise
    assert files and 0 < total < 2500


# -- printed lines -------------------------------------------------------------------------


def tcpdump_text(path: Path, *flags: str) -> str:
    cmd = [need_tool("tcpdump"), "-n", *flags, "-r", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.mark.parametrize(
    "flags",
    [
        (),
        ("-q",),
        ("-e",),
        ("-t",),
        ("-tt",),
        ("-ttt",),
        ("-tttt",),
        ("-ttttt",),
        ("-x",),
        ("-xx",),
        ("-X",),
        ("-XX",),
        ("-A",),
        ("-e", "-q"),
        ("-tt", "-e", "-X"),
        ("-S",),
        ("-#",),
        ("-K",),
        ("--nano",),
        ("--time-stamp-precision=nano",),
        ("-ttt", "--nano"),
        ("-#", "-S", "-tttt"),
    ],  # fmt: skip
)
def test_lines_are_tcpdumps(flags, corpus, capsys):
    capsys.readouterr()
    assert main(["capture", "-r", str(corpus), "-n", *flags]) == 0
    assert capsys.readouterr().out == tcpdump_text(corpus, *flags)


def test_sample_lines_are_tcpdumps_quiet(capsys):
    # the sample carries DNS and HTTP, which fragpool does not decode; -q prints none of it
    assert main(["capture", "-r", str(SAMPLE), "-q"]) == 0
    assert capsys.readouterr().out == tcpdump_text(SAMPLE, "-q")


def test_verbose_adds_scapys_summary(corpus, capsys):
    assert main(["capture", "-r", str(corpus), "-c", "1", "-v"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert (
        "UDP, length 29" in first
        and second.strip() == "Ether / IP / UDP 10.0.0.1:5001 > 10.0.0.2:6001 / Raw"
    )


def test_a_slow_pipe_hands_out_each_record_as_it_arrives():
    import subprocess
    import sys
    import time

    writer = subprocess.Popen(slow_writer(10, 0.4), stdout=subprocess.PIPE)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "fragpool.cli", "capture", "-r", "-", "-c", "2", "-x"],
            stdin=writer.stdout, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        took = time.monotonic() - t0
    finally:
        writer.kill()
        writer.wait()
    assert proc.returncode == 0, proc.stderr
    assert len([ln for ln in proc.stdout.splitlines() if ln[:1].isdigit()]) == 2
    assert took < 2.5  # the writer takes 4 s: -c 2 ends after the second record arrives


@pytest.mark.parametrize("flag", ["-l", None])
def test_l_writes_each_line_as_it_is_printed(flag):
    """tcpdump's -l: each line reaches a pipe when its packet is read; without it lines are
    gathered (as stdio does) and reach the pipe at the end."""
    import select

    writer = subprocess.Popen(slow_writer(3, 1.0), stdout=subprocess.PIPE)
    args = ["capture", "-r", "-", *([flag] if flag else [])]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reader = subprocess.Popen(fragpool_cmd(*args), stdin=writer.stdout, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    try:
        ready, _, _ = select.select([reader.stdout], [], [], 2.5)  # 1 or 2 records are out
        early = os.read(reader.stdout.fileno(), 65536) if ready else b""
        rest = reader.communicate(timeout=30)[0]
    finally:
        writer.kill()
        writer.wait()
        reader.kill()
    stamped = [ln for ln in (early + rest).splitlines() if ln[:1].isdigit()]
    assert len(stamped) == 3
    if flag:
        assert early[:1].isdigit() and early.endswith(b"\n")
    else:
        assert early == b""
