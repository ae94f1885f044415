"""Find elements of a server-rendered page by tag and attributes (the standard library's HTML parser)."""

from html.parser import HTMLParser


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    handle_startendtag = handle_starttag


def elements(html: str | bytes, tag: str, **attrs: str) -> list[dict[str, str]]:
    """Attributes of every <tag> whose attributes include `attrs` (data_x= stands for data-x=)."""
    parser = _Collector()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
    return [a for t, a in parser.elements if t == tag and all(a.get(k) == v for k, v in wanted.items())]


def chart_marks(html, chart: str, mark: str) -> list[dict[str, str]]:
    """The <rect class="mark"> elements inside <svg data-chart="chart">."""
    parser = _Collector()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    out, inside = [], False
    for tag, attrs in parser.elements:
        if tag == "svg":
            inside = attrs.get("data-chart") == chart
        elif inside and tag == "rect" and attrs.get("class") == mark:
            out.append(attrs)
    return out
