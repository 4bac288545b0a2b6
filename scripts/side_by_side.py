#!/usr/bin/env python3
"""rwkvrt beside llama.cpp on the same GGUF files: prompt and generation speed, interleaved.

    scripts/side_by_side.py --llama-bench ~/llama.cpp/build/bin/llama-bench --rwkvrt build/tools/rwkvrt \\
        [--rounds 2] [-p 512] [-n 128] [-r 2] [-t 2] [--limits limits.json | --limits-sh limits.sh]
        [--probe-bandwidth] MODEL.gguf ...

-p 0 or -n 0 leaves that test out of both engines' runs and of the table.

Each round runs `llama-bench -o json` and then `rwkvrt bench -o json` on every file in turn, so that
both engines meet the same moments of a shared machine; speeds on such a machine move by tens of
percent between runs, so only figures from one run, interleaved, are compared. Prints a Markdown
table: tok/s per round for each engine, rwkvrt ÷ llama.cpp per round and, from three rounds, their
median (the figure a cell is judged by: a shared machine's neighbours move single rounds) (with --limits, also
rwkvrt's share of the machine's ceilings from ../shared/bench/limits.sh). With --limits-sh, the
ceilings are measured again right before each rwkvrt run and the shares are of those: a shared
machine's read bandwidth can double or halve from one minute to the next, and a share of a figure
from another minute says more about the neighbours than about rwkvrt. With --probe-bandwidth,
`rwkvrt bench --probe-bandwidth` reads the bandwidth before and after each of its generation runs, and
the table gives each round's share of that (the median of its repetitions). Standard library only.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"side_by_side: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr.strip()[-2000:]}")
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError as e:
        sys.exit(f"side_by_side: {cmd[0]} did not print JSON ({e})")


def checked(value, what):
    """A speed to compare: a positive, finite number, or the run stops (a NaN would compare as anything)."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        sys.exit(f"side_by_side: {what} is {value!r}, not a speed")
    return float(value)


def llama_speeds(args, model):
    records = run_json([args.llama_bench, "-m", model, "-p", str(args.p), "-n", str(args.n), "-r", str(args.r),
                        "-t", str(args.t), "-o", "json"])
    speeds = {}
    for rec in records:
        test = f"pp{rec['n_prompt']}" if rec.get("n_gen", 0) == 0 else f"tg{rec['n_gen']}"
        speeds[test] = checked(rec.get("avg_ts"), f"llama.cpp's {test} on {model}")
    return speeds


def measured_limits(limits_sh):
    """The ceilings limits.sh measures now, checked like rwkvrt's --limits checks its file."""
    limits = run_json(["bash", limits_sh])
    for key in ("read_gbps_all", "sgemm_gflops_all"):
        checked(limits.get(key) if isinstance(limits, dict) else None, f"{key} from {limits_sh}")
    return limits


def rwkvrt_speeds(args, model):
    """rwkvrt's speeds, its shares of the ceilings, and the ceilings they are shares of (or None)."""
    cmd = [args.rwkvrt, "bench", "-m", model, "-p", str(args.p), "-n", str(args.n), "-r", str(args.r),
           "-t", str(args.t), "-o", "json"] + ["--probe-bandwidth"] * args.probe_bandwidth
    limits = None
    with tempfile.NamedTemporaryFile("w", suffix=".json") as fresh:
        if args.limits_sh:
            limits = measured_limits(args.limits_sh)
            json.dump(limits, fresh)
            fresh.flush()
            cmd += ["--limits", fresh.name]
        elif args.limits:
            cmd += ["--limits", args.limits]
        out = run_json(cmd)
    speeds, shares = {}, {}
    for res in out.get("results", []):
        test = res["test"]
        speeds[test] = checked(res.get("tokens_per_second"), f"rwkvrt's {test} on {model}")
        probed = (checked(res.get("share_of_probed_bandwidth"), f"rwkvrt's {test} share of the probed bandwidth on {model}")
                  if args.probe_bandwidth and test.startswith("tg") else 0)
        shares[test] = (res.get("share_of_compute_ceiling", 0), res.get("share_of_bandwidth_ceiling", 0), probed)
    return speeds, shares, limits


def fmt(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--llama-bench", required=True, help="llama.cpp's llama-bench")
    ap.add_argument("--rwkvrt", default="rwkvrt", help="the rwkvrt tool (default: on PATH)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("-p", type=int, default=512, help="prompt tokens (0: no prompt test)")
    ap.add_argument("-n", type=int, default=128, help="generated tokens (0: no generation test)")
    ap.add_argument("-r", type=int, default=2, help="repetitions per test")
    ap.add_argument("-t", type=int, default=2, help="threads")
    ap.add_argument("--limits", help="limits.json from ../shared/bench/limits.sh")
    ap.add_argument("--limits-sh", help="../shared/bench/limits.sh, run again before each rwkvrt run: shares of "
                    "the ceilings of that minute")
    ap.add_argument("--probe-bandwidth", action="store_true", help="rwkvrt's generation as a share of the read "
                    "bandwidth probed right before and after each of its runs")
    ap.add_argument("models", nargs="+", help="GGUF files both engines load")
    args = ap.parse_args()
    if args.rounds < 1 or args.p < 0 or args.n < 0 or args.p + args.n == 0:
        sys.exit("side_by_side: --rounds must be at least 1, and -p and -n at least 0, not both 0")
    if args.limits and args.limits_sh:
        sys.exit("side_by_side: give --limits or --limits-sh, not both")
    if args.limits_sh and not os.path.isfile(args.limits_sh):
        sys.exit(f"side_by_side: {args.limits_sh} is not a file")
    for model in args.models:
        if not os.path.isfile(model):
            sys.exit(f"side_by_side: {model} is not a file")

    # The tests both engines run (-p 0 or -n 0 skips one, as in llama-bench), and the ceiling each is a share of.
    tests = [(f"pp{args.p}", 0, "% of sgemm")] * (args.p > 0) + [(f"tg{args.n}", 1, "% of read bandwidth")] * (args.n > 0)
    table = {m: [] for m in args.models}  # per model, per round: (llama, rwkvrt, shares, ceilings)
    for rnd in range(args.rounds):
        for model in args.models:
            llama = llama_speeds(args, model)
            ours, shares, limits = rwkvrt_speeds(args, model)
            for test, _, _ in tests:
                if test not in llama or test not in ours:
                    sys.exit(f"side_by_side: no {test} result for {model} in round {rnd + 1}")
            table[model].append((llama, ours, shares, limits))
            print(f"round {rnd + 1}: {os.path.basename(model)} done", file=sys.stderr)

    names = [t for t, _, _ in tests]
    cols = f"| file | llama.cpp {' / '.join(names)} | rwkvrt {' / '.join(names)} | rwkvrt ÷ llama.cpp {'; '.join(names)} |"
    rule = "|---|---|---|---|"
    median = args.rounds >= 3
    if median:
        cols += f" median ÷ {'; '.join(names)} |"
        rule += "---|"
    if args.limits or args.limits_sh:
        cols += "".join(f" {t}, {ceiling} |" for t, _, ceiling in tests)
        rule += "---|" * len(tests)
    probed = args.probe_bandwidth and args.n > 0
    if probed:
        cols += f" tg{args.n}, % of the read bandwidth probed beside it |"
        rule += "---|"
    if args.limits_sh:
        cols += " sgemm GFLOP/s / read GB/s, measured before rwkvrt |"
        rule += "---|"
    print(f"{args.rounds} round(s), -p {args.p} -n {args.n} -r {args.r} -t {args.t}; values per round\n")
    print(cols)
    print(rule)
    for model, rounds in table.items():
        each = lambda f: ", ".join(f(x) for x in rounds)
        row = (f"| {os.path.basename(model)} | {' / '.join(each(lambda x: fmt(x[0][t])) for t in names)} | "
               f"{' / '.join(each(lambda x: fmt(x[1][t])) for t in names)} | "
               f"{'; '.join(each(lambda x: f'{x[1][t] / x[0][t]:.2f}') for t in names)} |")
        if median:
            row += f" {'; '.join(f'{statistics.median(x[1][t] / x[0][t] for x in rounds):.2f}' for t in names)} |"
        if args.limits or args.limits_sh:
            for t, share, _ in tests:
                row += f" {each(lambda x: f'{100 * x[2][t][share]:.0f}%')}"
                row += f" (median {100 * statistics.median(x[2][t][share] for x in rounds):.0f}%) |" if median else " |"
        if probed:
            tg = f"tg{args.n}"
            row += f" {each(lambda x: f'{100 * x[2][tg][2]:.0f}%')}"
            row += f" (median {100 * statistics.median(x[2][tg][2] for x in rounds):.0f}%) |" if median else " |"
        if args.limits_sh:
            row += (f" {each(lambda x: fmt(x[3]['sgemm_gflops_all']))} / {each(lambda x: fmt(x[3]['read_gbps_all']))} |")
        print(row)


if __name__ == "__main__":
    main()
