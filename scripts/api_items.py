#!/usr/bin/env python3
"""rustdoc's list of the kit's items (all.html, built without features) against kit/API, the
reviewed list: the same items, and at most 40 of them.

Usage: api_items.py TARGET/doc/kms_lambda_kit/all.html kit/API
"""
import html
import re
import sys

KINDS = {"struct": "struct", "enum": "enum", "trait": "trait", "fn": "fn", "macro": "macro",
         "constant": "constant", "type": "type", "static": "static", "union": "union",
         "derive": "derive", "attr": "attr", "traitalias": "traitalias"}
page, api = sys.argv[1:3]
documented = set()
for href, name in re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li>', open(page, encoding="utf-8").read()):
    kind = href.rsplit("/", 1)[-1].split(".", 1)[0]
    documented.add(f"{KINDS.get(kind, kind)} {html.unescape(name)}")
listed = {l.strip() for l in open(api, encoding="utf-8") if l.strip() and not l.startswith("#") and "(feature" not in l}
if documented != listed or len(documented) > 40:
    sys.exit(f"api-items: rustdoc documents {len(documented)} items; not in kit/API: "
             f"{sorted(documented - listed)}; in kit/API but not documented: {sorted(listed - documented)}")
print(f"api-items: rustdoc documents the {len(documented)} items kit/API lists (at most 40)")
