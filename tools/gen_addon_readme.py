"""Build each addon's README.rst from its readme/*.md fragments (OCA layout).

OCA generates README.rst with oca-gen-addon-readme, which is not on PyPI; this
does the small part we need: a title, the summary, and the fragments in the
usual order, with Markdown turned into the reStructuredText subset we use
(headings, lists, bold, inline and fenced code). Run `make readme`.
"""

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = [
    ("DESCRIPTION.md", None),
    ("INSTALL.md", "Installation"),
    ("CONFIGURE.md", "Configuration"),
    ("USAGE.md", "Usage"),
    ("ROADMAP.md", "Known issues / Roadmap"),
    ("CONTRIBUTORS.md", "Contributors"),
]


def inline(text):
    text = re.sub(r"`([^`]+)`", r"``\1``", text)
    return re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"`\1 <\2>`_", text)


def md_to_rst(markdown):
    out, in_code = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            if in_code:
                in_code = False
                out.append("")
            else:
                in_code = True
                out += [f".. code-block:: {line[3:].strip() or 'text'}", ""]
            continue
        if in_code:
            out.append(f"    {line}" if line else "")
            continue
        heading = re.match(r"^(#+)\s+(.*)$", line)
        if heading:
            title = inline(heading[2])
            out += [title, "~" * len(title)]
            continue
        out.append(inline(line))
    return "\n".join(out).strip() + "\n"


def build(addon):
    manifest = ast.literal_eval((addon / "__manifest__.py").read_text())
    title = manifest["name"]
    parts = ["=" * len(title), title, "=" * len(title), "", manifest.get("summary", ""), ""]
    parts += [f"**License:** {manifest['license']} · **Version:** {manifest['version']}", ""]
    for fragment, heading in SECTIONS:
        path = addon / "readme" / fragment
        if not path.exists():
            continue
        if heading:
            parts += [heading, "=" * len(heading), ""]
        parts += [md_to_rst(path.read_text()), ""]
    return "\n".join(parts).rstrip() + "\n"


def main():
    check = "--check" in sys.argv
    stale = []
    for manifest in sorted(ROOT.glob("addons/*/__manifest__.py")):
        addon = manifest.parent
        if not (addon / "readme").is_dir():
            continue
        target = addon / "README.rst"
        text = build(addon)
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(str(target.relative_to(ROOT)))
        else:
            target.write_text(text)
    if stale:
        print("README.rst out of date (run `make readme`):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
