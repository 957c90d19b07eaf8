"""Fill zh_Hans translations from a JSON file of {msgid: msgstr} and clear their fuzzy flags.

Usage: python scripts/po_fill.py translations.json  (then ./dev messages compiles)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polib

PO = Path(__file__).resolve().parent.parent / "locale/zh_Hans/LC_MESSAGES/django.po"


def main(path: str) -> int:
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    po = polib.pofile(str(PO))
    filled = 0
    for entry in po:
        if entry.obsolete or entry.msgid not in table:
            continue
        entry.msgstr = table[entry.msgid]
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
        entry.previous_msgid = None
        entry.previous_msgctxt = None
        entry.previous_msgid_plural = None
        filled += 1
    po.save(str(PO))
    po.save_as_mofile(str(PO.with_suffix(".mo")))
    left = [e.msgid for e in po if not e.obsolete and (not e.translated() or "fuzzy" in e.flags)]
    print(f"filled {filled}; still untranslated or fuzzy: {len(left)}")
    for msgid in left:
        print("  ", repr(msgid))
    return 0 if not left else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
