"""chart.py - the bench's summary as an SVG chart, written here (no
gnuplot): one line per case and metric, the ratio of its two sides on a
log scale centred on 1, a bar from the smallest to the largest ratio of
the rounds and a dot at the median, green where the first side did better
than the reference, red where it did worse. Standard library only."""

import math
from xml.sax.saxutils import escape

ROW = 22                # height of a line
LABEL = 300             # width of the labels, left of the plot
PLOT = 440              # width of the plot
VALUE = 60              # width of the median's figure, right of it
TOP = 58                # the title and the scale above the lines
BOTTOM = 56             # the scale and the legend below
SAME = 0.02             # within 2% of 1: neither better nor worse
COLOURS = {1: "#2a7d3b", -1: "#c0282d", 0: "#777777"}


def direction(metric):
    """+1 when a larger ratio is better for `metric` (a rate), -1 when a
    smaller one is (a time, a cost), 0 for the client's own CPU use, which
    says how busy the load generator was, not how good the server is."""
    m = metric.lower()
    if m.startswith(("wrk ", "client ")):
        return 0
    if "/s" in m:
        return 1
    return -1


def verdict(metric, median):
    """+1 better than the reference, -1 worse, 0 about the same (or a
    metric with no better side)."""
    d = direction(metric)
    if d == 0 or abs(median - 1) <= SAME:
        return 0
    return d if median > 1 else -d


def usable(row):
    return all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0
               for v in row[3:6])


def span(rows):
    """The half-width of the scale in powers of two: every ratio inside,
    at least 0.5 to 2, at most 1/16 to 16 (beyond, a bar is cut)."""
    m = max([abs(math.log2(v)) for r in rows for v in r[3:6]] + [1])
    return min(4.0, math.ceil(m * 2) / 2)


def svg(rows, title, note=""):
    """The chart of rows [(case, metric, ratio_of, min, median, max)] as
    SVG text. Rows without three positive finite ratios are left out."""
    rows = [r for r in rows if usable(r)]
    half = span(rows)
    width = LABEL + PLOT + VALUE + 20
    height = TOP + ROW * max(1, len(rows)) + BOTTOM

    def x(v):
        e = max(-half, min(half, math.log2(v)))
        return LABEL + PLOT * (e + half) / (2 * half)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">'
           % (width, height, width, height),
           '<rect width="100%" height="100%" fill="#ffffff"/>',
           '<text x="10" y="20" font-size="15" font-weight="bold">%s</text>'
           % escape(title)]
    if note:
        out.append('<text x="10" y="38" fill="#555555">%s</text>'
                   % escape(note))
    bottom = TOP + ROW * len(rows)
    ticks = [t for t in (1 / 16, 1 / 8, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2,
                         3, 4, 8, 16) if abs(math.log2(t)) <= half]
    for t in ticks:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>'
                   % (x(t), TOP - 6, x(t), bottom + 4,
                      "#333333" if t == 1 else "#dddddd"))
        label = "%g" % t if t >= 0.25 else "1/%d" % round(1 / t)
        for y in (TOP - 10, bottom + 16):
            out.append('<text x="%.1f" y="%d" text-anchor="middle" '
                       'fill="#555555">%s</text>' % (x(t), y, label))
    for i, (case, metric, rof, lo, med, hi) in enumerate(rows):
        y = TOP + ROW * i
        mid = y + ROW / 2
        if i % 2 == 0:
            out.append('<rect x="0" y="%d" width="%d" height="%d" '
                       'fill="#000000" fill-opacity="0.04"/>'
                       % (y, width, ROW))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s '
                   '<tspan fill="#777777">%s (%s)</tspan></text>'
                   % (LABEL - 10, mid + 4, escape(case), escape(metric),
                      escape(rof)))
        colour = COLOURS[verdict(metric, med)]
        out.append('<line class="range" x1="%.1f" y1="%.1f" x2="%.1f" '
                   'y2="%.1f" stroke="%s" stroke-opacity="0.45" '
                   'stroke-width="6" stroke-linecap="round"/>'
                   % (x(lo), mid, x(hi), mid, colour))
        out.append('<circle class="median" cx="%.1f" cy="%.1f" r="4.5" '
                   'fill="%s"><title>%s %s: min %.3f, median %.3f, '
                   'max %.3f</title></circle>'
                   % (x(med), mid, colour, escape(case), escape(metric), lo,
                      med, hi))
        out.append('<text x="%d" y="%.1f" fill="%s">%.3f</text>'
                   % (LABEL + PLOT + 12, mid + 4, colour, med))
    if not rows:
        out.append('<text x="%d" y="%d">no ratios in this run</text>'
                   % (LABEL, TOP + 15))
    out.append('<text x="10" y="%d" fill="#555555">bar: the smallest to '
               'the largest ratio over the rounds; dot and figure: the '
               'median; log scale.</text>' % (height - 22))
    out.append('<text x="10" y="%d" fill="#555555"><tspan fill="%s">green'
               '</tspan>: better than the reference (higher for rates, lower '
               'for times and costs); <tspan fill="%s">red</tspan>: worse; '
               'grey: within 2%% or the client\'s own cpu.</text>'
               % (height - 7, COLOURS[1], COLOURS[-1]))
    out.append("</svg>")
    return "\n".join(out) + "\n"
