#!/usr/bin/env python3
"""Check the Russian translations of the addons: every addons/<addon>/i18n/<addon>.pot
must have a complete, well-formed i18n/ru.po beside it.

For each such addon:
  - i18n/ru.po exists and parses;
  - every msgid of the .pot has a non-empty, non-fuzzy msgstr in ru.po (all plural forms);
  - msgid and msgstr carry the same placeholders: %-style (named ones by name, positional
    ones in order), {brace} fields and HTML tags, and the same leading/trailing whitespace;
  - `msgfmt --check-format -o /dev/null ru.po` passes.

Prints one line per problem and exits 1 if there is any; prints a one-line summary and
exits 0 otherwise. Needs polib (installed with Odoo) and gettext's msgfmt; not Odoo itself.

Usage: python3 tools/check_i18n.py [ADDON ...]   (default: every addon under addons/)
"""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
ADDONS = ROOT / "addons"
LANG_FILE = "ru.po"

# printf-style conversions as Python's % operator (and Odoo's JS sprintf) read them. The
# space flag is left out on purpose, so that prose like "50% of" is not taken for "% o".
PERCENT_RE = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[-#0+]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsa])"
)
# str.format() fields: {name}, {name.attr}, {0}, {} (but not the escaped {{ }}).
BRACE_RE = re.compile(r"(?<!\{)\{(?:[A-Za-z_]\w*(?:\.\w+)*|\d*)(?:![rsa])?(?::[^{}]*)?\}(?!\})")
TAG_RE = re.compile(r"</?([A-Za-z][\w-]*)")


def percent_placeholders(text):
    """(named, positional): a Counter of (name, conversion) and the list of conversions."""
    text = text.replace("%%", "")
    named, positional = Counter(), []
    for match in PERCENT_RE.finditer(text):
        if match["name"] is not None:
            named[(match["name"], match["conv"])] += 1
        else:
            positional.append(match["conv"])
    return named, positional


def edges(text):
    """The leading and trailing whitespace of a string."""
    stripped = text.strip()
    if not stripped:
        return (text, "")
    start = text.index(stripped)
    return (text[:start], text[start + len(stripped) :])


def compare(msgid, msgstr):
    """The ways msgstr does not carry msgid's placeholders, as short sentences."""
    problems = []
    id_named, id_pos = percent_placeholders(msgid)
    str_named, str_pos = percent_placeholders(msgstr)
    if id_named != str_named:
        missing = sorted(f"%({n}){c}" for n, c in (id_named - str_named).elements())
        extra = sorted(f"%({n}){c}" for n, c in (str_named - id_named).elements())
        problems.append(
            "named placeholders differ"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else "")
        )
    if id_pos != str_pos:
        problems.append(
            f"positional placeholders differ: msgid has {' '.join('%' + c for c in id_pos) or 'none'}, "
            f"msgstr has {' '.join('%' + c for c in str_pos) or 'none'}"
        )
    id_brace, str_brace = Counter(BRACE_RE.findall(msgid)), Counter(BRACE_RE.findall(msgstr))
    if id_brace != str_brace:
        problems.append(
            f"{{}} fields differ: msgid has {sorted(id_brace.elements())}, "
            f"msgstr has {sorted(str_brace.elements())}"
        )
    return problems + compare_markup(msgid, msgstr)


def compare_markup(msgid, msgstr):
    """HTML tags and leading/trailing whitespace that msgstr does not keep."""
    problems = []
    id_tags, str_tags = Counter(TAG_RE.findall(msgid)), Counter(TAG_RE.findall(msgstr))
    if id_tags != str_tags:
        problems.append(
            f"HTML tags differ: msgid has {sorted(id_tags.elements())}, "
            f"msgstr has {sorted(str_tags.elements())}"
        )
    if edges(msgid) != edges(msgstr):
        problems.append(
            f"leading/trailing whitespace differs: msgid {edges(msgid)!r}, msgstr {edges(msgstr)!r}"
        )
    return problems


def short(msgid, width=60):
    text = msgid if len(msgid) <= width else msgid[: width - 1] + "…"
    return repr(text)


def entry_key(entry):
    return (entry.msgctxt, entry.msgid)


def check_entry(label, pot_entry, po_entry):
    """Problems of one translated entry, as full lines."""
    where = f"{label}: msgid {short(pot_entry.msgid)}"
    if po_entry is None:
        return [f"{where}: missing from {LANG_FILE}"]
    if "fuzzy" in po_entry.flags:
        return [f"{where}: fuzzy"]
    if pot_entry.msgid_plural:
        forms = po_entry.msgstr_plural or {}
        if not forms or any(not forms[index] for index in sorted(forms)):
            return [f"{where}: untranslated (some plural form is empty)"]
        return [f"{where}: {problem}" for problem in compare_plural(pot_entry, forms)]
    if not po_entry.msgstr:
        return [f"{where}: untranslated"]
    return [f"{where}: {problem}" for problem in compare(pot_entry.msgid, po_entry.msgstr)]


def compare_plural(pot_entry, forms):
    """Plural forms may each leave out a placeholder (a language's "one" form may also
    serve 21, 31, ...; an English singular often names no number), but none may bring in
    a placeholder that neither msgid nor msgid_plural has, nor change tags or whitespace."""
    sources = pot_entry.msgid + "\n" + pot_entry.msgid_plural
    src_named, src_pos = percent_placeholders(sources)
    src_brace = set(BRACE_RE.findall(sources))
    problems = []
    for index in sorted(forms):
        text = forms[index]
        named, positional = percent_placeholders(text)
        extra = sorted(f"%({n}){c}" for n, c in named if (n, c) not in src_named)
        extra += sorted("%" + c for c in set(positional) if c not in src_pos)
        extra += sorted(field for field in BRACE_RE.findall(text) if field not in src_brace)
        if extra:
            problems.append(f"msgstr[{index}] has unexpected placeholders {', '.join(extra)}")
        for problem in compare_markup(pot_entry.msgid_plural, text):
            problems.append(f"msgstr[{index}]: {problem}")
    return problems


def run_msgfmt(label, po_path):
    try:
        result = subprocess.run(
            ["msgfmt", "--check-format", "-o", "/dev/null", str(po_path)],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return [f"{label}: msgfmt not found (install gettext)"]
    if result.returncode == 0:
        return []
    lines = [line.removeprefix("msgfmt: ") for line in result.stderr.splitlines() if line.strip()]
    return [f"{label}: msgfmt: {line}" for line in lines] or [
        f"{label}: msgfmt --check-format exited {result.returncode}"
    ]


def check_addon(addon_dir):
    """(problems, number of pot entries) for one addon."""
    pot_path = addon_dir / "i18n" / f"{addon_dir.name}.pot"
    po_path = addon_dir / "i18n" / LANG_FILE
    label = str(po_path.relative_to(ROOT))
    if not po_path.is_file():
        return [f"{label}: missing (expected beside {pot_path.name})"], 0
    try:
        pot = polib.pofile(str(pot_path))
    except (OSError, ValueError) as error:
        return [f"{pot_path.relative_to(ROOT)}: cannot be read: {error}"], 0
    try:
        po = polib.pofile(str(po_path))
    except (OSError, ValueError) as error:
        return [f"{label}: cannot be read: {error}"], 0
    translations = {entry_key(entry): entry for entry in po if not entry.obsolete}
    pot_entries = [entry for entry in pot if not entry.obsolete and entry.msgid]
    problems = []
    for pot_entry in pot_entries:
        problems += check_entry(label, pot_entry, translations.get(entry_key(pot_entry)))
    problems += run_msgfmt(label, po_path)
    return problems, len(pot_entries)


def main(argv):
    if argv:
        addon_dirs = [ADDONS / name.rstrip("/").split("/")[-1] for name in argv]
    else:
        addon_dirs = sorted(path.parent.parent for path in ADDONS.glob("*/i18n/*.pot"))
        addon_dirs = [path for path in addon_dirs if (path / "i18n" / f"{path.name}.pot").is_file()]
    problems, checked, entries = [], [], 0
    for addon_dir in addon_dirs:
        if not (addon_dir / "i18n" / f"{addon_dir.name}.pot").is_file():
            problems.append(f"{addon_dir.relative_to(ROOT)}: no i18n/{addon_dir.name}.pot")
            continue
        addon_problems, count = check_addon(addon_dir)
        problems += addon_problems
        checked.append(addon_dir.name)
        entries += count
    for line in problems:
        print(line)
    if problems:
        print(f"check_i18n: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    if not checked:
        print("check_i18n: OK, no addon under addons/ has an i18n/<addon>.pot yet")
    else:
        print(
            f"check_i18n: OK, {LANG_FILE} complete for {len(checked)} addon(s) "
            f"({', '.join(checked)}): {entries} entries, placeholders match, msgfmt passes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
