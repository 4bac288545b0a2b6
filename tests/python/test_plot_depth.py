"""scripts/plot_depth.py turns `rwkvrt bench -d ... -o json` into an SVG with one line per test."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

from conftest import REPO


def test_plot_depth_draws_speed_and_memory(tmp_path):
    bench = {"model": "/m/tiny.pth", "arch": "rwkv7", "weight_type": "f32", "results": [], "rss_kib": []}
    for depth in (0, 1000, 100000):
        bench["results"].append({"test": "pp64", "batch": 1, "depth": depth, "tokens_per_second": 900.0 + depth / 1e3})
        bench["results"].append({"test": "tg64", "batch": 1, "depth": depth, "tokens_per_second": 400.0})
        bench["rss_kib"].append({"batch": 1, "depth": depth, "rss_kib": 20480})
    src, svg = tmp_path / "depth.json", tmp_path / "depth.svg"
    src.write_text(json.dumps(bench))
    subprocess.run([sys.executable, str(REPO / "scripts" / "plot_depth.py"), str(src), str(svg)], check=True)
    root = ET.parse(svg).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 3  # pp64, tg64 and the memory line
    labels = [t.text for t in root.findall(f"{ns}text")]
    assert "pp64, batch 1" in labels and "tg64, batch 1" in labels and "100,000" in labels
    # The y axes are ticked at round values: speed in steps of 500 tok/s, memory in steps of 10 MiB.
    assert {"0", "500", "1,000"} <= set(labels) and {"10", "20"} <= set(labels)


def test_plot_depth_refuses_a_file_without_results(tmp_path):
    src = tmp_path / "empty.json"
    src.write_text(json.dumps({"model": "m", "arch": "rwkv7", "weight_type": "f32", "results": []}))
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "plot_depth.py"), str(src), str(tmp_path / "x.svg")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "no results" in r.stderr
