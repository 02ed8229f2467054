"""Charts as inline SVG rendered on the server: no JavaScript, no external assets, nothing to install.

Each function takes plain series and returns one <figure> holding:
- the SVG, with role="img" and an aria-label that summarises it (screen readers read that, not the
  shapes), plus <title>/<desc>;
- a <title> on every bar, which browsers show as its tooltip;
- a legend and axis labels;
- the same numbers as a <table> below, for screen readers, printing and copying.
All text passes through escape(): series names come from data (survey and status labels).
"""

import itertools
import math
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Okabe–Ito: distinguishable with the common kinds of colour blindness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#999999", "#F0E442")

WIDTH = 720
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 16, 56
BAR_HEIGHT = 280
FUNNEL_ROW = 34
FUNNEL_LABEL_WIDTH = 110
FUNNEL_VALUE_WIDTH = 120
FONT = 'font-family="sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    name: str
    values: list[int]
    color: str = ""


def bar_chart(
    *,
    title: str,
    categories: list[str],
    series: list[Series],
    stacked: bool = False,
    x_label: str = "",
    y_label: str = "",
) -> SafeString:
    """Vertical bars, one band per category: series side by side, or stacked when `stacked`."""
    series = _with_colors(series)
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = BAR_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    totals = [sum(values) for values in zip(*(s.values for s in series))] if series else []
    peak = max(totals if stacked else [v for s in series for v in s.values], default=0)
    ticks = nice_ticks(peak)
    top = ticks[-1]

    def y(value: float) -> float:
        return MARGIN_TOP + plot_height - plot_height * value / top

    band = plot_width / max(len(categories), 1)
    parts = [_y_axis(ticks, y, plot_width)]
    for position, category in enumerate(categories):
        band_left = MARGIN_LEFT + position * band
        if stacked:
            parts.extend(_stacked_bars(category, position, series, band_left, band, y))
        else:
            parts.extend(_grouped_bars(category, position, series, band_left, band, y))
        parts.append(
            f'<text x="{band_left + band / 2:.1f}" y="{MARGIN_TOP + plot_height + 14}" text-anchor="middle" {FONT}>'
            f"{escape(category)}</text>"
        )
    parts.append(_axis_labels(x_label, y_label, plot_height))
    totals_text = ", ".join(f"{s.name} {sum(s.values)}" for s in series)
    description = (
        f"{'Stacked' if stacked else 'Grouped'} bar chart over {len(categories)} "
        f"{x_label.lower() or 'categories'}; totals: {totals_text or 'none'}. The table below lists every value."
    )
    svg = _svg(title, description, BAR_HEIGHT, "".join(parts))
    header = ["", *(s.name for s in series), *(["Total"] if stacked else [])]
    rows = [
        [category, *(s.values[position] for s in series), *([totals[position]] if stacked else [])]
        for position, category in enumerate(categories)
    ]
    return _figure(title, svg, _legend(series), _table(title, header, rows))


def funnel_chart(*, title: str, steps: list[tuple[str, int]]) -> SafeString:
    """Horizontal bars, one per step, each labelled with its count and its share of the first step."""
    first = steps[0][1] if steps else 0
    peak = max((count for _, count in steps), default=0) or 1
    bar_space = WIDTH - FUNNEL_LABEL_WIDTH - FUNNEL_VALUE_WIDTH
    height = MARGIN_TOP * 2 + FUNNEL_ROW * len(steps)
    parts = []
    for position, (label, count) in enumerate(steps):
        top = MARGIN_TOP + position * FUNNEL_ROW
        width = bar_space * count / peak
        share = share_text(count, first)
        parts.append(
            f'<text x="{FUNNEL_LABEL_WIDTH - 8}" y="{top + FUNNEL_ROW / 2 + 4:.1f}" text-anchor="end" {FONT}>'
            f"{escape(label)}</text>"
            f'<rect x="{FUNNEL_LABEL_WIDTH}" y="{top + 4}" width="{width:.1f}" height="{FUNNEL_ROW - 8}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {count} ({share} of {escape(steps[0][0].lower())})'
            f"</title></rect>"
            f'<text x="{FUNNEL_LABEL_WIDTH + width + 6:.1f}" y="{top + FUNNEL_ROW / 2 + 4:.1f}" {FONT}>'
            f"{count} · {share}</text>"
        )
    summary = "; ".join(f"{label} {count}" for label, count in steps)
    description = f"Funnel: {summary or 'no steps'}. The table below lists every value."
    svg = _svg(title, description, height, "".join(parts))
    rows = [[label, count, share_text(count, first)] for label, count in steps]
    first_label = steps[0][0].lower() if steps else "first step"
    return _figure(title, svg, "", _table(title, ["Step", "Invitations", f"Share of {first_label}"], rows))


def nice_ticks(peak: float, *, count: int = 4) -> list[int]:
    """0 up to a round number ≥ peak, in about `count` round steps (1, 2 or 5 × a power of ten)."""
    if peak <= 0:
        return [0, 1]
    rough = peak / count
    magnitude = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    step = max(int(step), 1)
    return list(range(0, math.ceil(peak / step) * step + 1, step))


def share_text(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "—"


# --- pieces -------------------------------------------------------------------------------------


def _with_colors(series: list[Series]) -> list[Series]:
    """Series without a colour get palette colours that no other series of the chart uses."""
    taken = {s.color for s in series if s.color}
    free = itertools.cycle([color for color in PALETTE if color not in taken] or PALETTE)
    return [s if s.color else Series(s.name, s.values, next(free)) for s in series]


def _grouped_bars(category, position, series, band_left, band, y):
    bar_width = band * 0.8 / max(len(series), 1)
    for index, s in enumerate(series):
        value = s.values[position]
        if value:  # a zero is a gap in the chart and a 0 in the table
            left = band_left + band * 0.1 + index * bar_width
            yield _bar(left, y(value), bar_width, y(0) - y(value), s, category, value)


def _stacked_bars(category, position, series, band_left, band, y):
    base = 0
    for s in series:
        value = s.values[position]
        if value:
            yield _bar(
                band_left + band * 0.2, y(base + value), band * 0.6, y(base) - y(base + value), s, category, value
            )
            base += value


def _bar(left, top, width, height, s: Series, category: str, value: int) -> str:
    return (
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{s.color}">'
        f"<title>{escape(category)} · {escape(s.name)}: {value}</title></rect>"
    )


def _y_axis(ticks, y, plot_width) -> str:
    lines = []
    for tick in ticks:
        lines.append(
            f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_width}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#ddd"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" {FONT}>{tick}</text>'
        )
    lines.append(f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT}" y1="{MARGIN_TOP}" y2="{y(0):.1f}" stroke="#666"/>')
    return "".join(lines)


def _axis_labels(x_label: str, y_label: str, plot_height: float) -> str:
    middle_y = MARGIN_TOP + plot_height / 2
    return (
        f'<text x="{MARGIN_LEFT + (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 2:.1f}" y="{BAR_HEIGHT - 12}" '
        f'text-anchor="middle" {FONT}>{escape(x_label)}</text>'
        f'<text x="14" y="{middle_y:.1f}" text-anchor="middle" transform="rotate(-90 14 {middle_y:.1f})" {FONT}>'
        f"{escape(y_label)}</text>"
    )


def _svg(title: str, description: str, height: int, body: str) -> str:
    return (
        f'<svg role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'style="max-width: {WIDTH}px" aria-label="{escape(title)}. {escape(description)}">'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>{body}</svg>"
    )


def _legend(series: list[Series]) -> str:
    items = "".join(
        f'<li style="display: inline-block; margin-right: 1em"><span aria-hidden="true" style="display: '
        f'inline-block; width: 10px; height: 10px; background: {s.color}; margin-right: 4px"></span>'
        f"{escape(s.name)}</li>"
        for s in series
    )
    return f'<ul class="chart-legend" style="list-style: none; padding: 0; margin: 4px 0">{items}</ul>'


def _table(title: str, header: list, rows: list[list]) -> str:
    head = "".join(f'<th scope="col">{escape(cell)}</th>' for cell in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<th scope="row">{escape(row[0])}</th>' if i == 0 else f"<td>{escape(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<details class="chart-data"><summary>{escape(title)}: data table</summary>'
        f"<table><caption>{escape(title)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        "</details>"
    )


def _figure(title: str, svg: str, legend: str, table: str) -> SafeString:
    return mark_safe(  # every piece above escapes its text
        f'<figure class="chart" style="margin: 0 0 2em"><figcaption><strong>{escape(title)}</strong></figcaption>'
        f"{svg}{legend}{table}</figure>"
    )
