"""scripts/side_by_side.py runs llama-bench and rwkvrt bench in turn and tabulates their speeds and ratios."""

import json
import subprocess
import sys

from conftest import REPO

SCRIPT = REPO / "scripts" / "side_by_side.py"


def fake_tool(path, output):
    """An executable that prints `output` as JSON whatever its arguments, and logs its calls."""
    path.write_text(f"#!{sys.executable}\nimport sys\nopen({str(path) + '.log'!r}, 'a').write(sys.argv[1] + ' ' + sys.argv[-1] + '\\n')\n"
                    f"print({json.dumps(json.dumps(output))})\n")
    path.chmod(0o755)
    return path


def llama_records(pp, tg):
    return [{"n_prompt": 512, "n_gen": 0, "avg_ts": pp}, {"n_prompt": 0, "n_gen": 128, "avg_ts": tg}]


def rwkvrt_results(pp, tg):
    return {"results": [{"test": "pp512", "tokens_per_second": pp, "share_of_compute_ceiling": 0.9, "share_of_bandwidth_ceiling": 0},
                        {"test": "tg128", "tokens_per_second": tg, "share_of_compute_ceiling": 0.1, "share_of_bandwidth_ceiling": 0.97}]}


def run(tmp_path, llama, ours, *extra):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    return subprocess.run([sys.executable, str(SCRIPT), "--llama-bench", str(llama), "--rwkvrt", str(ours), *extra, str(model)],
                          capture_output=True, text=True)


def test_tabulates_both_engines_per_round_with_ratios_and_shares(tmp_path):
    llama = fake_tool(tmp_path / "llama-bench", llama_records(800.0, 100.0))
    ours = fake_tool(tmp_path / "rwkvrt", rwkvrt_results(1600.0, 150.0))
    limits = tmp_path / "limits.json"
    limits.write_text("{}")
    r = run(tmp_path, llama, ours, "--rounds", "2", "--limits", str(limits))
    assert r.returncode == 0, r.stderr
    row = [line for line in r.stdout.splitlines() if line.startswith("| m.gguf")][0]
    assert row == "| m.gguf | 800, 800 / 100, 100 | 1600, 1600 / 150, 150 | 2.00, 2.00; 1.50, 1.50 | 90%, 90% | 97%, 97% |"
    # Interleaved: each round runs llama.cpp, then rwkvrt, on the file.
    calls = [(tmp_path / "llama-bench.log").read_text().count("\n"), (tmp_path / "rwkvrt.log").read_text().count("\n")]
    assert calls == [2, 2]


def test_a_nan_or_missing_speed_stops_the_comparison(tmp_path):
    ours = fake_tool(tmp_path / "rwkvrt", rwkvrt_results(1600.0, 150.0))
    nan = fake_tool(tmp_path / "llama-nan", [{"n_prompt": 512, "n_gen": 0, "avg_ts": float("nan")}, {"n_prompt": 0, "n_gen": 128, "avg_ts": 1.0}])
    r = run(tmp_path, nan, ours)
    assert r.returncode != 0 and "not a speed" in r.stderr
    only_pp = fake_tool(tmp_path / "llama-pp", llama_records(800.0, 100.0)[:1])
    r = run(tmp_path, only_pp, ours)
    assert r.returncode != 0 and "no tg128 result" in r.stderr
