"""examples/python/chat.py: the state file lets a second run continue the conversation exactly."""

import re
import subprocess
import sys

from conftest import REPO, TINY7, data

CHAT = REPO / "examples" / "python" / "chat.py"


def chat(state_file, lines):
    """Runs the chat with piped input; returns (replies, status lines)."""
    run = subprocess.run([sys.executable, str(CHAT), str(data(TINY7)), str(state_file)], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, errors="replace", timeout=120, check=True)
    return run.stdout.split("Assistant:")[1:], run.stderr.splitlines()


def test_chat_resumes_from_its_state_file(tmp_path):
    replies, status = chat(tmp_path / "a.state", ["Hello there", "How are you?"])
    assert status[0].startswith("[new conversation")

    _, first_status = chat(tmp_path / "b.state", ["Hello there"])
    saved = int(re.fullmatch(r"\[saved: (\d+) tokens\]", first_status[-1]).group(1))
    resumed_replies, second_status = chat(tmp_path / "b.state", ["How are you?"])
    assert second_status[0] == f"[resumed {tmp_path / 'b.state'}: {saved} tokens]"
    # Stopped and resumed, the second reply is the one the uninterrupted chat gave.
    assert resumed_replies[0] == replies[1]
