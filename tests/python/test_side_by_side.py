"""scripts/side_by_side.py runs llama-bench and rwkvrt bench in turn and tabulates their speeds and ratios."""

import json
import subprocess
import sys

from conftest import REPO

SCRIPT = REPO / "scripts" / "side_by_side.py"


def fake_tool(path, output):
    """An executable that prints `output` as JSON whatever its arguments, and logs its calls."""
    path.write_text(f"#!{sys.executable}\nimport sys\nopen({str(path) + '.log'!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
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


def test_p_or_n_zero_leaves_that_test_out_of_both_runs_and_the_table(tmp_path):
    llama = fake_tool(tmp_path / "llama-bench", llama_records(800.0, 100.0))
    ours = fake_tool(tmp_path / "rwkvrt", rwkvrt_results(1600.0, 150.0))
    limits = tmp_path / "limits.json"
    limits.write_text("{}")
    r = run(tmp_path, llama, ours, "--rounds", "1", "-n", "0", "--limits", str(limits))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "| file | llama.cpp pp512 | rwkvrt pp512 | rwkvrt ÷ llama.cpp pp512 | pp512, % of sgemm |" in lines
    assert "| m.gguf | 800 | 1600 | 2.00 | 90% |" in lines
    for tool in ("llama-bench", "rwkvrt"):
        assert " -n 0 " in (tmp_path / f"{tool}.log").read_text()
    r = run(tmp_path, llama, ours, "--rounds", "1", "-p", "0")
    assert r.returncode == 0, r.stderr
    assert "| m.gguf | 100 | 150 | 1.50 |" in r.stdout.splitlines()
    r = run(tmp_path, llama, ours, "-p", "0", "-n", "0")
    assert r.returncode != 0 and "not both 0" in r.stderr


def test_a_nan_or_missing_speed_stops_the_comparison(tmp_path):
    ours = fake_tool(tmp_path / "rwkvrt", rwkvrt_results(1600.0, 150.0))
    nan = fake_tool(tmp_path / "llama-nan", [{"n_prompt": 512, "n_gen": 0, "avg_ts": float("nan")}, {"n_prompt": 0, "n_gen": 128, "avg_ts": 1.0}])
    r = run(tmp_path, nan, ours)
    assert r.returncode != 0 and "not a speed" in r.stderr
    only_pp = fake_tool(tmp_path / "llama-pp", llama_records(800.0, 100.0)[:1])
    r = run(tmp_path, only_pp, ours)
    assert r.returncode != 0 and "no tg128 result" in r.stderr


def test_limits_sh_measures_the_ceilings_again_before_each_rwkvrt_run(tmp_path):
    llama = fake_tool(tmp_path / "llama-bench", llama_records(800.0, 100.0))
    # rwkvrt records the ceilings it was given; limits.sh reports a read bandwidth that doubles each call.
    ours = tmp_path / "rwkvrt"
    ours.write_text(f"#!{sys.executable}\nimport sys\nlimits = open(sys.argv[sys.argv.index('--limits') + 1]).read()\n"
                    f"open({str(ours) + '.log'!r}, 'a').write(limits + '\\n')\nprint({json.dumps(json.dumps(rwkvrt_results(1600.0, 150.0)))})\n")
    ours.chmod(0o755)
    limits_sh = tmp_path / "limits.sh"
    calls = tmp_path / "limits.calls"
    limits_sh.write_text(f"echo x >> {calls}\nn=$(wc -l < {calls})\n"
                         'echo "{\\"read_gbps_all\\": $((20 * 2 ** n)), \\"sgemm_gflops_all\\": 190.0}"\n')
    r = run(tmp_path, llama, ours, "--rounds", "2", "--limits-sh", str(limits_sh))
    assert r.returncode == 0, r.stderr
    row = [line for line in r.stdout.splitlines() if line.startswith("| m.gguf")][0]
    assert row.endswith("| 90%, 90% | 97%, 97% | 190, 190 / 40.0, 80.0 |"), row
    given = [json.loads(line)["read_gbps_all"] for line in (tmp_path / "rwkvrt.log").read_text().splitlines()]
    assert given == [40, 80]
    # A limits.sh that prints no ceiling stops the comparison, as does giving both sources.
    limits_sh.write_text('echo "{}"\n')
    r = run(tmp_path, llama, ours, "--limits-sh", str(limits_sh))
    assert r.returncode != 0 and "read_gbps_all" in r.stderr
    r = run(tmp_path, llama, ours, "--limits-sh", str(limits_sh), "--limits", str(limits_sh))
    assert r.returncode != 0 and "not both" in r.stderr
    r = run(tmp_path, llama, ours, "--limits-sh", str(tmp_path / "missing.sh"))
    assert r.returncode != 0 and "is not a file" in r.stderr


def test_probe_bandwidth_asks_rwkvrt_for_its_share_of_the_bandwidth_read_beside_each_run(tmp_path):
    llama = fake_tool(tmp_path / "llama-bench", llama_records(800.0, 100.0))
    results = rwkvrt_results(1600.0, 150.0)
    results["results"][1]["share_of_probed_bandwidth"] = 0.955
    ours = fake_tool(tmp_path / "rwkvrt", results)
    r = run(tmp_path, llama, ours, "--rounds", "3", "--probe-bandwidth")
    assert r.returncode == 0, r.stderr
    assert "tg128, % of the read bandwidth probed beside it |" in r.stdout.splitlines()[2]
    row = [line for line in r.stdout.splitlines() if line.startswith("| m.gguf")][0]
    assert row.endswith("| 96%, 96%, 96% (median 96%) |"), row
    assert all("--probe-bandwidth" in call for call in (tmp_path / "rwkvrt.log").read_text().splitlines())
    # A share that is missing or not a number stops the comparison.
    for bad in (None, float("nan")):
        results["results"][1]["share_of_probed_bandwidth"] = bad
        ours = fake_tool(tmp_path / "rwkvrt", results)
        r = run(tmp_path, llama, ours, "--probe-bandwidth")
        assert r.returncode != 0 and "share of the probed bandwidth" in r.stderr
