"""Threads: the GIL is released while the library works, so threads on different states of one model
run in parallel, and give exactly what sequential runs give."""

import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import rwkvrt

LONG_INPUT = np.arange(600) % 256  # about half a second on one core for the tiny model


def generate(model, prompt, seed):
    state = model.new_state()
    text = "".join(model.generate(state, prompt, seed=seed, max_tokens=150, top_p=0.9))
    return text, bytes(state)


def test_two_threads_generate_what_sequential_runs_do(model):
    jobs = [("Once upon a time", 1), ("User: hi\n\nAssistant:", 2)]
    sequential = [generate(model, *job) for job in jobs]
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = list(pool.map(lambda job: generate(model, *job), jobs))
    assert parallel == sequential
    assert sequential[0] != sequential[1]


def test_feed_releases_the_gil(model):
    one_core = rwkvrt.Model(model.path, threads=1)
    state = one_core.new_state()
    took = []

    def work():
        start = time.perf_counter()
        one_core.feed(state, LONG_INPUT)
        took.append(time.perf_counter() - start)

    worker = threading.Thread(target=work)
    worker.start()
    # Were the GIL held during feed, this loop would stall for the whole call.
    last, longest_stall = time.perf_counter(), 0.0
    while worker.is_alive():
        now = time.perf_counter()
        longest_stall, last = max(longest_stall, now - last), now
    worker.join()
    assert longest_stall < took[0] / 3


def test_one_state_used_by_two_threads_at_once_is_refused(model):
    one_core = rwkvrt.Model(model.path, threads=1)
    state = one_core.new_state()
    started = threading.Event()

    very_long = np.arange(30000) % 256  # seconds of work, so the second call surely overlaps it

    def work():
        started.set()
        one_core.feed(state, very_long)

    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    # The worker holds the state once a call that only reads it is refused: wait for that, not for a
    # guessed time.
    while True:
        assert worker.is_alive(), "the worker finished before it was seen holding the state"
        try:
            bytes(state)
        except RuntimeError as e:
            assert "in use by another call" in str(e)
            break
    with pytest.raises(RuntimeError, match="in use by another call"):
        one_core.feed(state, [1])
    worker.join()
    assert state.n_tokens == len(very_long)  # the refused call fed nothing


def run_python(code, timeout=120):
    """Runs code in a fresh interpreter; its exit status and output."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout)


def test_daemon_threads_inside_the_library_do_not_abort_the_exit(model):
    # Threads still in a feed or a generation when the interpreter exits: Python ends a thread that
    # takes the GIL back then, which had aborted the process (std::terminate) about half the time.
    code = f"""
        import threading, time
        import numpy as np
        import rwkvrt
        model = rwkvrt.Model({str(model.path)!r}, threads=1)
        def generate():
            for _ in model.generate(model.new_state(), "Once", max_tokens=1_000_000):
                pass
        def feed():
            model.feed(model.new_state(), np.arange(1_000_000) % 256)
        for target in (generate, generate, feed):
            threading.Thread(target=target, daemon=True).start()
        time.sleep(0.3)
        print("exiting")
    """
    for _ in range(3):
        done = run_python(code)
        assert (done.returncode, done.stdout.strip()) == (0, "exiting"), done.stderr


def test_a_signal_handler_feeding_the_same_model_gets_an_error_not_a_deadlock(model):
    # Handlers run inside the call (its progress callback), where the model is busy on this very
    # thread: a feed from there had waited on itself forever.
    done = run_python(f"""
        import signal
        import numpy as np
        import rwkvrt
        model = rwkvrt.Model({str(model.path)!r}, threads=1)
        state, other = model.new_state(), model.new_state()
        signal.signal(signal.SIGALRM, lambda *_: model.feed(other, [1, 2, 3]))
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        try:
            model.feed(state, np.arange(1_000_000) % 256)
        except rwkvrt.ArgumentError as e:
            print("refused", other.n_tokens, 0 < state.n_tokens < 1_000_000, e)
    """, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused 0 True"), done.stdout
    assert "already running a feed on this thread" in done.stdout
