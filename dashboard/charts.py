"""Server-side SVG charts: a horizontal bar chart, a histogram and a heatmap.

No JavaScript and no chart library: each chart is one <svg> string the templates insert as is. Every
mark carries its numbers twice — as data-* attributes (what the browser tests read) and as a <title>
(what a person sees on hover) — so a chart can be checked against the database, not only looked at.
All text is escaped here; the result is marked safe for the templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

FONT = 12
LABEL_WIDTH = 170  # room for a task slug or "generator version" left of the bars / rows
BAR_COLOR = "#4a6fa5"
EMPTY_CELL = "#eeeeee"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str = ""  # what is printed after the bar; the value itself when empty
    data: dict[str, object] = field(default_factory=dict)  # extra data-* attributes (e.g. task slug)


def number(value: float | int | None) -> str:
    """How numbers are written into data-* attributes: integers as they are, floats to 6 decimals."""
    if value is None:
        return ""
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{float(value):.6f}".rstrip("0").rstrip(".")


def _attrs(data: dict[str, object]) -> str:
    out = []
    for key, value in data.items():
        text = number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
        out.append(f' data-{escape(key)}="{escape(text)}"')
    return "".join(out)


def _svg(name: str, title: str, width: int, height: int, body: list[str], data: dict[str, object] | None = None):
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(name)}"{_attrs(data or {})} '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}" font-family="sans-serif" font-size="{FONT}">'
            f"<title>{escape(title)}</title>")
    return mark_safe(head + "".join(body) + "</svg>")


def bar_chart(name: str, bars: list[Bar], *, title: str, width: int = 640, row: int = 22,
              mark_class: str = "bar") -> SafeString:
    """One horizontal bar per item, longest = the largest value; each <rect class="bar"> has data-label and
    data-value (plus the bar's own data)."""
    plot = width - LABEL_WIDTH - 150  # the rest is for the value printed after the longest bar
    top = 8
    height = top + row * max(len(bars), 1) + 8
    largest = max((b.value for b in bars), default=0) or 1
    body = []
    if not bars:
        body.append(f'<text class="empty" x="{LABEL_WIDTH}" y="{top + FONT}">no data</text>')
    for i, b in enumerate(bars):
        y = top + i * row
        length = max(plot * b.value / largest, 0)
        shown = b.text or number(b.value)
        body.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + row * 0.65:.1f}" text-anchor="end">{escape(b.label)}</text>'
            f'<rect class="{mark_class}" x="{LABEL_WIDTH}" y="{y + 3}" width="{length:.1f}" height="{row - 6}" '
            f'fill="{BAR_COLOR}" data-label="{escape(b.label)}" data-value="{number(b.value)}"{_attrs(b.data)}>'
            f"<title>{escape(b.label)}: {escape(shown)}</title></rect>"
            f'<text class="value" x="{LABEL_WIDTH + length + 4:.1f}" y="{y + row * 0.65:.1f}">{escape(shown)}</text>'
        )
    return _svg(name, title, width, height, body, {"count": len(bars)})


def histogram(name: str, bins: list[str], counts: list[int], *, title: str, width: int = 300, height: int = 170,
              data: dict[str, object] | None = None) -> SafeString:
    """Vertical bars over labelled bins; each <rect class="bin"> has data-bin and data-count. Bins with no
    items are drawn too (height 0), so the number of bins never depends on the data."""
    if len(bins) != len(counts):
        raise ValueError("one count per bin")
    left, bottom, top = 8, 46, 16
    plot_h = height - bottom - top
    slot = (width - 2 * left) / max(len(bins), 1)
    largest = max(counts, default=0) or 1
    total = sum(counts)
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}" stroke="#999"/>']
    for i, (label, count) in enumerate(zip(bins, counts)):
        h = plot_h * count / largest
        x = left + i * slot
        body.append(
            f'<rect class="bin" x="{x + 2:.1f}" y="{height - bottom - h:.1f}" width="{slot - 4:.1f}" height="{h:.1f}" '
            f'fill="{BAR_COLOR}" data-bin="{escape(label)}" data-count="{count}">'
            f"<title>{escape(label)}: {count}</title></rect>"
            f'<text x="{x + slot / 2:.1f}" y="{height - bottom - h - 3:.1f}" text-anchor="middle" '
            f'font-size="10">{count}</text>'
            f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 12:.1f}" text-anchor="end" font-size="9" '
            f'transform="rotate(-35 {x + slot / 2:.1f} {height - bottom + 12:.1f})">{escape(label)}</text>'
        )
    return _svg(name, title, width, height, body, {"total": total, **(data or {})})


def _shade(fraction: float) -> str:
    """White (0) to dark red (1)."""
    f = min(max(fraction, 0.0), 1.0)
    r, g, b = 255 - int(75 * f), 255 - int(215 * f), 255 - int(215 * f)
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(name: str, rows: list[str], columns: list[str], cells: dict[tuple[str, str], tuple[float, int]], *,
            title: str, value_label: str = "value", percent: bool = False, cell: int = 56) -> SafeString:
    """A rows x columns grid; `cells[(row, column)] = (value, n)`. Every pair gets a <rect class="cell"> with
    data-row, data-column, data-value and data-n; pairs without data have data-value="" and are grey."""
    top = 90
    width = LABEL_WIDTH + cell * max(len(columns), 1) + 110  # room for the last rotated column label
    height = top + cell * max(len(rows), 1) + 8
    values = [v for v, _ in cells.values() if v is not None]
    largest = max(values, default=0) or 1
    body = []
    for j, column in enumerate(columns):
        x = LABEL_WIDTH + j * cell + cell / 2
        body.append(f'<text x="{x:.1f}" y="{top - 6}" font-size="10" transform="rotate(-40 {x:.1f} {top - 6})">'
                    f"{escape(column)}</text>")
    for i, row in enumerate(rows):
        y = top + i * cell
        body.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">{escape(row)}</text>')
        for j, column in enumerate(columns):
            value, n = cells.get((row, column), (None, 0))
            x = LABEL_WIDTH + j * cell
            shown = "" if value is None else (f"{value:.1%}" if percent else f"{value:.3g}")
            tip = f"{row} / {column}: " + (f"{value_label} {shown} over {n}" if value is not None else "no data")
            fill = EMPTY_CELL if value is None else _shade(value / largest)
            ink = "#fff" if value is not None and value / largest > 0.6 else "#222"
            body.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}" '
                f'data-row="{escape(row)}" data-column="{escape(column)}" data-value="{number(value)}" '
                f'data-n="{n}"><title>{escape(tip)}</title></rect>'
                f'<text x="{x + cell / 2 - 1:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" font-size="10" '
                f'fill="{ink}">{escape(shown)}</text>'
            )
    return _svg(name, title, width, height, body, {"rows": len(rows), "columns": len(columns)})
