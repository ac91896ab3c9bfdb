#!/usr/bin/env python3
"""Builds a self-contained HTML report from the template and a JSON result.

Usage: assemble.py TEMPLATE RESULT_JSON OUT_HTML

This is the reference for what the Rust side does (for testing the template without a build):
the template holds three markers, each exactly once, and each is replaced by literal text:

  /*@UPLOT_CSS@*/    uPlot's CSS   (assets/vendor/uplot/uPlot.min.css), inside a <style>
  /*@UPLOT_JS@*/     uPlot's JS    (assets/vendor/uplot/uPlot.iife.min.js), inside a <script>
  /*@RESULT_JSON@*/  the result JSON with every "<" written as \\u003c, inside
                     <script id="result" type="application/json">

All three are replaced in one pass over the template, so text that is inserted (a step name
that happens to read like a marker) is never itself searched for markers.
"""
import os
import re
import sys

MARKERS = ("/*@UPLOT_CSS@*/", "/*@UPLOT_JS@*/", "/*@RESULT_JSON@*/")


def assemble(template: str, uplot_css: str, uplot_js: str, result_json: str) -> str:
    for m in MARKERS:
        n = template.count(m)
        if n != 1:
            raise ValueError(f"template holds {m} {n} times, not once")
    # Vendored code must not be able to end the element it is inlined in.
    if re.search(r"</style", uplot_css, re.I) or re.search(r"</script", uplot_js, re.I):
        raise ValueError("uPlot's files contain a closing tag and cannot be inlined")
    values = {
        MARKERS[0]: uplot_css,
        MARKERS[1]: uplot_js,
        # "<" is never needed outside strings in JSON, and \u003c is its escape inside them,
        # so the JSON means the same, and "</script>" in a step name cannot close the element.
        MARKERS[2]: result_json.replace("<", "\\u003c"),
    }
    pattern = re.compile("|".join(re.escape(m) for m in MARKERS))
    return pattern.sub(lambda m: values[m.group(0)], template)


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    template_path, result_path, out_path = argv[1:]
    vendor = os.path.join(os.path.dirname(os.path.abspath(template_path)), "vendor", "uplot")
    read = lambda p: open(p, encoding="utf-8").read()
    html = assemble(
        read(template_path),
        read(os.path.join(vendor, "uPlot.min.css")),
        read(os.path.join(vendor, "uPlot.iife.min.js")),
        read(result_path),
    )
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(html)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
