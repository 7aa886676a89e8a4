"""The page shell shared by every HTML page: escaped text, inline CSS, print-friendly.

No script and no external asset: a report opens offline, prints to PDF as shown, and a
console page needs nothing but the server that rendered it. Colours keep a contrast ratio of
at least 4.5:1 against their background (WCAG AA for body text)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

CSS = """
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #1b1b1b; background: #ffffff;
       margin: 0; line-height: 1.45; font-size: 15px; }
header.top { background: #14304f; color: #ffffff; padding: 14px 28px; }
header.top h1 { margin: 0; font-size: 22px; }
header.top p { margin: 4px 0 0; color: #e6edf5; font-size: 13px; }
header.top a { color: #ffffff; }
nav.main { background: #e8eef5; padding: 8px 28px; border-bottom: 1px solid #b8c4d2; }
nav.main a { color: #0b3d91; margin-right: 18px; font-weight: bold; text-decoration: none; }
nav.main a[aria-current="page"] { text-decoration: underline; color: #1b1b1b; }
main { padding: 10px 28px 40px; max-width: 1400px; }
h2 { border-bottom: 2px solid #14304f; padding-bottom: 3px; margin-top: 30px; font-size: 19px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
a { color: #0b3d91; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #b8c4d2; padding: 4px 7px; text-align: left; vertical-align: top; }
th { background: #e8eef5; }
tbody tr:nth-child(even) td { background: #f6f8fb; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.deny { color: #a4161a; font-weight: bold; }
.allow { color: #1d6b2f; font-weight: bold; }
.warn { color: #7a4a00; font-weight: bold; }
.muted { color: #4a4f55; }
.gap { background: #fff4e5; }
.box { border: 1px solid #b8c4d2; padding: 8px 12px; margin: 10px 0; background: #f6f8fb; }
code.deny, code.warn { overflow-wrap: normal; }
td.wide { min-width: 240px; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
figure { display: inline-block; margin: 6px 18px 12px 0; vertical-align: top; }
figcaption { font-size: 12px; color: #4a4f55; max-width: 520px; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px 18px; align-items: flex-end;
               margin: 10px 0; }
form.filters label { display: flex; flex-direction: column; font-size: 13px; font-weight: bold; }
form.filters input, form.filters select { font-size: 14px; padding: 3px 5px; min-width: 150px;
               border: 1px solid #5b6570; color: #1b1b1b; background: #ffffff; }
button { background: #14304f; color: #ffffff; border: 0; padding: 6px 14px; font-size: 14px; }
@media print {
  nav.main, form.filters { display: none; }
  header.top { background: #ffffff; color: #000000; border-bottom: 2px solid #000000; }
  header.top p { color: #000000; }
  body { font-size: 11px; }
  h2 { break-after: avoid; }
  table, figure { break-inside: avoid; }
  main { max-width: none; }
}
"""


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    caption: str = "",
    numeric: Sequence[int] = (),
    wide: Sequence[int] = (),
    table_id: str = "",
) -> str:
    """A table whose cells are already-escaped HTML fragments."""
    head = "".join(
        f'<th scope="col"{" class=num" if i in numeric else ""}>{esc(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = "".join(
            f"<td{' class=num' if i in numeric else ' class=wide' if i in wide else ''}>{cell}</td>"
            for i, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    ident = f' id="{esc(table_id)}"' if table_id else ""
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}" class="muted">none</td></tr>')
    return (
        f"<table{ident}>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def outcome(allowed: bool | None) -> str:
    if allowed is None:
        return '<span class="muted">n/a</span>'
    return '<span class="allow">allowed</span>' if allowed else '<span class="deny">denied</span>'


def page(
    title: str,
    body: str,
    *,
    subtitle: str = "",
    nav: Sequence[tuple[str, str]] = (),
    current: str = "",
) -> str:
    links = "".join(
        f'<a href="{esc(href)}"{" aria-current=page" if href == current else ""}>{esc(label)}</a>'
        for label, href in nav
    )
    nav_html = f'<nav class="main" aria-label="Sections">{links}</nav>' if nav else ""
    sub = f"<p>{subtitle}</p>" if subtitle else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f'<body><header class="top"><h1>{esc(title)}</h1>{sub}</header>{nav_html}'
        f"<main>{body}</main></body></html>\n"
    )
