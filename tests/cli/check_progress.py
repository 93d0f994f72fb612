#!/usr/bin/env python3
"""check_progress.py — attnc's status line for long steps ("compiling
forward... 1.4 s"): drawn in place and wiped on a terminal, never written when
stderr is not a terminal.

    check_progress.py ATTNC SRCDIR WORKDIR

A step shows its status after a second (PROGRESS_DELAY_MS in attnc.c); the
terminal checks hold each run to what its wall time allows: a status when it
took clearly longer, none when it took less.
"""
import os
import pty
import re
import shutil
import subprocess
import sys
import time

DELAY_S = 1.0  # PROGRESS_DELAY_MS
# one or more statuses, each redrawn from the line's start, then wiped
STATUS_THEN_WIPED = re.compile(r"(\r[a-z]+ [^\r]*\.\.\. [0-9]+\.[0-9] s *)+\r +\r")


def run_on_terminal(argv, env):
    """Runs argv with stderr on a new pseudo-terminal; returns the exit status,
    stdout, what the terminal received and the wall time in seconds."""
    master, slave = pty.openpty()
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    received = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed its side
            break
        if not data:
            break
        received.append(data)
    out = proc.stdout.read()
    proc.wait()
    seconds = time.monotonic() - start
    os.close(master)
    return proc.returncode, out, b"".join(received).decode(), seconds


def check(name, argv, env, step):
    """Runs argv on a terminal and on a pipe and checks the status of `step`."""
    rc, out, terminal, seconds = run_on_terminal(argv, env)
    if rc != 0:
        sys.exit(f"{name}: exit status {rc} on a terminal:\n{terminal}")
    if seconds >= DELAY_S + 0.5:
        if not STATUS_THEN_WIPED.fullmatch(terminal) or f"\r{step}... " not in terminal:
            sys.exit(f"{name}: {seconds:.1f} s on a terminal, but no '{step}' status wiped at the end: {terminal!r}")
        print(f"{name}: status shown and wiped on a terminal ({seconds:.1f} s)")
    elif seconds < DELAY_S and terminal:
        sys.exit(f"{name}: {seconds:.1f} s, yet the terminal got {terminal!r}")
    else:
        print(f"{name}: {seconds:.1f} s on a terminal, too short to expect a status")
    piped = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env)
    if piped.returncode != 0 or piped.stderr:
        sys.exit(f"{name}: exit status {piped.returncode}, stderr not a terminal got {piped.stderr!r}")
    if piped.stdout != out:
        sys.exit(f"{name}: stdout differs between a terminal and a pipe:\n{out!r}\n{piped.stdout!r}")


def main():
    attnc, src, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = dict(os.environ, ATTN_CACHE_DIR=os.path.join(work, "cache"))  # a first compile: nothing cached
    env.pop("ATTN_BACKEND", None)
    bert = [f"{src}/models/bert.attn", "--set", "vocab_size=50", "--set", "hidden_size=16",
            "--set", "num_hidden_layers=2", "--set", "num_attention_heads=2", "--set", "intermediate_size=32",
            "--set", "max_position_embeddings=16", "--set", "type_vocab_size=2"]
    check("compile bert", [attnc, "compile", *bert, "-o", f"{work}/bert"], env,
          f"compiling {src}/models/bert.attn ahead of time")
    han = f"{src}/tests/golden/fixtures/han"
    check("run han", [attnc, "run", f"{src}/models/han.attn", "--set", "vocab_size=20", "--set", "embed_dim=6",
                      "--set", "hidden_size=4", "--set", "num_classes=3", "--weights", f"{han}/weights.safetensors",
                      "--inputs", f"{han}/inputs.safetensors"], env, "compiling forward")
    check("check grucell", [attnc, "check", f"{src}/models/grucell.attn", "--set", "input_size=5",
                            "--set", "hidden_size=7"], env, "loading")


if __name__ == "__main__":
    main()
