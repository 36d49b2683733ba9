"""The HTML encoding of the OGC API documents (conformance class ``html``).

One plain page per document, rendered on the server: its title and description, its
links (JSON resources linked in their JSON form, HTML ones as pages) and its other
members as a readable JSON listing. No script, no asset from elsewhere.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from geobase.server.auth import with_query

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:60em}"
    "pre{background:#f4f4f4;padding:1em;overflow:auto}"
    "td{padding:.2em .8em .2em 0;vertical-align:top}"
)


def render(doc: dict[str, Any], heading: str) -> bytes:
    """The page of an OGC API document (``heading``: what kind of resource it is)."""
    title = str(doc.get("title") or heading)
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<p>{escape(heading)}</p><h1>{escape(title)}</h1>",
    ]
    if doc.get("description"):
        out.append(f"<p>{escape(str(doc['description']))}</p>")
    links = doc.get("links") or []
    if links:
        out.append("<h2>Links / 链接</h2><table>")
        for link in links:
            out.append(_link_row(link))
        out.append("</table>")
    for name, items in doc.items():
        if name in ("title", "description", "links"):
            continue
        if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
            out.append(f"<h2>{escape(name)}</h2>")
            for item in items:
                out.append(_item(item))
        else:
            dumped = json.dumps(items, ensure_ascii=False, indent=1)
            out.append(f"<h2>{escape(name)}</h2><pre>{escape(dumped)}</pre>")
    out.append("</body></html>")
    return "\n".join(out).encode("utf-8")


def _link_row(link: dict[str, Any]) -> str:
    href = str(link.get("href", ""))
    kind = str(link.get("type", ""))
    label = escape(str(link.get("title") or href))
    if link.get("templated"):
        target = f"<code>{escape(href)}</code>"
    else:
        target = f'<a href="{escape(_browsable(href, kind), quote=True)}">{label}</a>'
    return (
        f"<tr><td>{escape(str(link.get('rel', '')))}</td><td>{escape(kind)}</td>"
        f"<td>{target}</td></tr>"
    )


def _browsable(href: str, kind: str) -> str:
    """A JSON resource of this API asks for its JSON form explicitly (browsers ask HTML)."""
    if kind == "application/json" and "f=" not in href:
        return with_query(href, "f=json")
    return href


def _item(item: dict[str, Any]) -> str:
    title = item.get("title") or item.get("id") or item.get("tileMatrix") or ""
    rest = {k: v for k, v in item.items() if k not in ("title", "links")}
    parts = [f"<h3>{escape(str(title))}</h3>"] if title else []
    links = item.get("links") or []
    if links:
        parts.append("<table>" + "".join(_link_row(link) for link in links) + "</table>")
    if rest:
        dumped = json.dumps(rest, ensure_ascii=False, indent=1)
        parts.append(f"<pre>{escape(dumped)}</pre>")
    return "\n".join(parts)
