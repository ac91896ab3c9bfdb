#!/usr/bin/env python3
"""Checks that an HTML report renders in headless Chromium, and takes a screenshot of it.

Usage: render_report.py REPORT.html OUT_DIR

The report's script marks <body> when it is done: data-rendered="ok" once everything is drawn
("error" after any script error), data-errors with the error messages, and data-blank with
the ids of charts whose canvas stayed empty. This dumps the DOM after the page settles,
checks those three, and writes OUT_DIR/report.png (1280x2400) for a person to look at.
Exits 0 when the report rendered cleanly, 1 with the reason otherwise, 2 on bad usage or
when no Chromium is installed (Debian: apt-get install chromium).
"""
import html.parser
import os
import pathlib
import shutil
import subprocess
import sys

TIMEOUT_S = 120


def find_chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(binary, args, url):
    cmd = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--disable-extensions", "--virtual-time-budget=5000", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)


class BodyAttrs(html.parser.HTMLParser):
    """Collects the attributes of the first <body> tag."""

    def __init__(self):
        super().__init__()
        self.attrs = None

    def handle_starttag(self, tag, attrs):
        if tag == "body" and self.attrs is None:
            self.attrs = {k: (v or "") for k, v in attrs}


def check(report, out_dir):
    binary = find_chromium()
    if binary is None:
        print("render_report: no chromium or chromium-browser on PATH", file=sys.stderr)
        return 2
    url = pathlib.Path(report).resolve().as_uri()
    os.makedirs(out_dir, exist_ok=True)

    dump = run_chromium(binary, ["--dump-dom"], url)
    if dump.returncode != 0 or not dump.stdout.strip():
        print(f"FAIL: chromium exited {dump.returncode} without a DOM\n{dump.stderr[-2000:]}")
        return 1
    pathlib.Path(out_dir, "dom.html").write_text(dump.stdout, encoding="utf-8")

    png = os.path.join(os.path.abspath(out_dir), "report.png")
    shot = run_chromium(binary, [f"--screenshot={png}", "--window-size=1280,2400"], url)
    problems = []
    if shot.returncode != 0 or not os.path.exists(png):
        problems.append(f"no screenshot (chromium exited {shot.returncode}): {shot.stderr[-500:]}")

    parser = BodyAttrs()
    parser.feed(dump.stdout)
    attrs = parser.attrs or {}
    rendered = attrs.get("data-rendered")
    if rendered != "ok":
        problems.append(f"data-rendered is {rendered!r}, not 'ok'")
    if attrs.get("data-errors"):
        problems.append(f"script errors: {attrs['data-errors']}")
    if "data-blank" not in attrs:
        problems.append("data-blank was never set (the render check did not run)")
    elif attrs["data-blank"]:
        problems.append(f"blank charts: {attrs['data-blank']}")

    if problems:
        print(f"FAIL: {report}")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"ok: {report} rendered; screenshot {png}")
    return 0


def main(argv):
    if len(argv) != 3:
        print("usage: render_report.py REPORT.html OUT_DIR", file=sys.stderr)
        return 2
    try:
        return check(argv[1], argv[2])
    except subprocess.TimeoutExpired:
        print(f"FAIL: chromium took over {TIMEOUT_S}s")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
