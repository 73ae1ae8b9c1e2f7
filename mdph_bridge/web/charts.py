"""Dashboard charts drawn on the server as SVG: no script, no network, readable by screen readers.

Each function takes the plain dicts of `services.metrics` and returns an `<svg>` string with a
`<title>` and a `<desc>` (French), ready to be inserted in a page as safe markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 40, 48
BLUE = "#000091"  # the French State's blue (DSFR "bleu France")
RED = "#e1000f"  # DSFR "rouge Marianne": the target
GREY = "#666666"
LIGHT = "#dddddd"
FONT = 'font-family="Marianne, Arial, sans-serif" font-size="12"'


def fr_number(value: float, decimals: int = 1) -> str:
    """Write a number the French way: decimal comma, no useless zero."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:.0f}"
    return text.replace(".", ",")


def _open(chart_id: str, title: str, description: str) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-labelledby="{cid}-titre {cid}-desc" {FONT}>',
        f'<title id="{cid}-titre">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(description)}</desc>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold" fill="#161616">'
        f"{escape(title)}</text>",
    ]


def _empty(chart_id: str, title: str) -> str:
    parts = _open(chart_id, title, "Aucune donnée pour la période.")
    parts.append(
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="{GREY}">'
        "Aucune donnée</text></svg>"
    )
    return "".join(parts)


def _nice_max(value: float) -> float:
    """A round upper bound for an axis (1, 2 or 5 times a power of ten) at or above `value`."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if factor * step >= value:
            return factor * step
    return 10 * step


def _y_axis(top: float, label: str, x: float = LEFT, anchor: str = "end") -> list[str]:
    """Horizontal grid lines with their values, from 0 to `top`, and the axis label."""
    plot = HEIGHT - TOP - BOTTOM
    parts = []
    for index in range(5):
        value = top * index / 4
        y = HEIGHT - BOTTOM - plot * index / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{LIGHT}"/>'
        )
        dx = -6 if anchor == "end" else 6
        parts.append(
            f'<text x="{x + dx}" y="{y + 4:.1f}" text-anchor="{anchor}" fill="{GREY}">'
            f"{fr_number(value)}</text>"
        )
    if anchor == "end":
        parts.append(f'<text x="4" y="{TOP - 8}" fill="{GREY}">{escape(label)}</text>')
    return parts


def delay_histogram(
    bars: Sequence[dict[str, Any]],
    target_days: int = 15,
    chart_id: str = "histogramme",
    title: str = "Délais des transferts terminés",
) -> str:
    """Draw completed transfers per day of delay, with a red line at the target."""
    if not bars:
        return _empty(chart_id, title)
    last = max(max(int(b["jours"]) for b in bars), target_days) + 1
    total = sum(int(b["nombre"]) for b in bars)
    within = sum(int(b["nombre"]) for b in bars if int(b["jours"]) < target_days)
    description = (
        f"{total} transferts terminés ; {within} en moins de {target_days} jours, "
        f"{total - within} en {target_days} jours ou plus."
    )
    parts = _open(chart_id, title, description)
    top = _nice_max(max(int(b["nombre"]) for b in bars))
    parts += _y_axis(top, "transferts")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / last
    for bar in bars:
        day, count = int(bar["jours"]), int(bar["nombre"])
        h = plot_h * count / top
        x = LEFT + slot * day
        label = f"{day}+ jours" if day == last - 1 and day > target_days else f"{day} à {day + 1} j"
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" width="{max(slot - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{BLUE}"><title>{escape(label)} : {count} transfert'
            f"{'s' if count > 1 else ''}</title></rect>"
        )
    step = max(1, round(last / 12))
    for day in range(0, last + 1, step):
        parts.append(
            f'<text x="{LEFT + slot * day:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'fill="{GREY}">{day}</text>'
        )
    target_x = LEFT + slot * target_days
    parts += [
        f'<line x1="{target_x:.1f}" x2="{target_x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
        f'stroke="{RED}" stroke-width="2" stroke-dasharray="6 4" class="objectif"/>',
        _target_label(target_x, target_days),
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle" fill="{GREY}">'
        "jours entre le dépôt et l'intégration</text>",
        "</svg>",
    ]
    return "".join(parts)


def _target_label(x: float, target_days: int) -> str:
    """The target line's label, on the side of the line where it fits inside the chart."""
    near_edge = x > WIDTH - RIGHT - 100
    anchor, dx = ("end", -4) if near_edge else ("start", 4)
    return (
        f'<text x="{x + dx:.1f}" y="{TOP + 12}" text-anchor="{anchor}" fill="{RED}">'
        f"objectif {target_days} jours</text>"
    )


def monthly_trend(
    months: Sequence[dict[str, Any]],
    target_days: int = 15,
    chart_id: str = "tendance",
    title: str = "Délai médian et part dans les délais, par mois",
) -> str:
    """Draw the median delay per month (blue, days) and the share within target (red, %)."""
    points = [m for m in months if m.get("mediane_jours") is not None]
    if not points:
        return _empty(chart_id, title)
    last = points[-1]
    description = (
        f"{len(points)} mois, de {points[0]['mois']} à {last['mois']}. Dernier mois : délai "
        f"médian {fr_number(last['mediane_jours'])} jours, "
        f"{fr_number(100 * last['part_dans_les_delais'], 0)} % dans les délais."
    )
    parts = _open(chart_id, title, description)
    top = _nice_max(max(max(p["mediane_jours"] for p in points), target_days))
    parts += _y_axis(top, "jours")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    for index in range(5):
        y = HEIGHT - BOTTOM - plot_h * index / 4
        parts.append(
            f'<text x="{WIDTH - RIGHT + 6}" y="{y + 4:.1f}" fill="{RED}">{25 * index} %</text>'
        )
    slot = plot_w / len(points)

    def x_of(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    median = [
        (x_of(i), HEIGHT - BOTTOM - plot_h * p["mediane_jours"] / top) for i, p in enumerate(points)
    ]
    share = [
        (x_of(i), HEIGHT - BOTTOM - plot_h * float(p["part_dans_les_delais"] or 0))
        for i, p in enumerate(points)
    ]
    target_y = HEIGHT - BOTTOM - plot_h * target_days / top
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{target_y:.1f}" y2="{target_y:.1f}" '
        f'stroke="{BLUE}" stroke-dasharray="6 4" class="objectif"/>'
    )
    for series, colour, name in ((median, BLUE, "mediane"), (share, RED, "part")):
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in series)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
            f'class="{name}"/>'
        )
    for i, p in enumerate(points):
        tip = (
            f"{p['mois']} : délai médian {fr_number(p['mediane_jours'])} j, "
            f"{fr_number(100 * float(p['part_dans_les_delais'] or 0), 0)} % dans les délais"
        )
        parts.append(
            f'<circle cx="{median[i][0]:.1f}" cy="{median[i][1]:.1f}" r="3" fill="{BLUE}">'
            f"<title>{escape(tip)}</title></circle>"
        )
        parts.append(
            f'<rect x="{share[i][0] - 3:.1f}" y="{share[i][1] - 3:.1f}" width="6" height="6" '
            f'fill="{RED}"><title>{escape(tip)}</title></rect>'
        )
    step = max(1, round(len(points) / 8))
    for i in range(0, len(points), step):
        parts.append(
            f'<text x="{x_of(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'fill="{GREY}">{escape(points[i]["mois"])}</text>'
        )
    legend = (
        (BLUE, "", "délai médian (jours, à gauche)"),
        (RED, "", "dans les délais (%, à droite)"),
        (BLUE, ' stroke-dasharray="6 4"', f"objectif {target_days} jours"),
    )
    x = LEFT
    for colour, dash, label in legend:
        parts += [
            f'<line x1="{x}" x2="{x + 18}" y1="{HEIGHT - 12}" y2="{HEIGHT - 12}" '
            f'stroke="{colour}" stroke-width="2"{dash}/>',
            f'<text x="{x + 22}" y="{HEIGHT - 8}" fill="{GREY}">{escape(label)}</text>',
        ]
        x += 200
    parts.append("</svg>")
    return "".join(parts)


SIDE_COLOURS = {"plateforme": GREY, "destination": BLUE, "origine": RED}
SIDE_NAMES = {"plateforme": "plateforme", "destination": "MDPH d'accueil", "origine": "expéditeur"}


def step_breakdown(
    steps: Sequence[dict[str, Any]],
    figure: str = "moyenne_jours",
    chart_id: str = "etapes",
    title: str = "Où passe le temps : durée moyenne de chaque étape",
) -> str:
    """Draw one horizontal bar per step (mean days by default), coloured by the side that acts."""
    rows = [s for s in steps if s.get(figure) is not None]
    if not rows:
        return _empty(chart_id, title)
    slowest = max(rows, key=lambda s: s[figure])
    description = (
        f"{len(rows)} étapes. La plus longue : {slowest['libelle']}, "
        f"{fr_number(slowest[figure])} jours."
    )
    parts = _open(chart_id, title, description)
    label_w = 260
    plot_w = WIDTH - label_w - RIGHT
    top = _nice_max(max(s[figure] for s in rows))
    row_h = (HEIGHT - TOP - BOTTOM) / len(rows)
    for i, step in enumerate(rows):
        y = TOP + row_h * i
        w = plot_w * step[figure] / top
        colour = SIDE_COLOURS.get(step["cote"], GREY)
        text = (
            f"{step['libelle']} : {fr_number(step[figure])} j ({SIDE_NAMES.get(step['cote'], '')})"
        )
        parts += [
            f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end" '
            f'fill="#161616">{escape(_short(step["libelle"]))}</text>',
            f'<rect x="{label_w}" y="{y + row_h * 0.2:.1f}" width="{max(w, 1):.1f}" '
            f'height="{row_h * 0.6:.1f}" fill="{colour}"><title>{escape(text)}</title></rect>',
            f'<text x="{label_w + w + 6:.1f}" y="{y + row_h / 2 + 4:.1f}" fill="#161616">'
            f"{fr_number(step[figure])} j</text>",
        ]
    legend_x = LEFT
    for side, colour in SIDE_COLOURS.items():
        parts += [
            f'<rect x="{legend_x}" y="{HEIGHT - 22}" width="10" height="10" fill="{colour}"/>',
            f'<text x="{legend_x + 14}" y="{HEIGHT - 13}" fill="{GREY}">'
            f"{escape(SIDE_NAMES[side])}</text>",
        ]
        legend_x += 150
    parts.append("</svg>")
    return "".join(parts)


def _short(label: str) -> str:
    """The part of a step's label before its parenthesis, which fits beside a bar."""
    return label.split(" (")[0]


def dashboard_charts(figures: dict[str, Any]) -> dict[str, str]:
    """Draw the dashboard charts from `services.metrics.dashboard`'s result.

    The histogram of the transfers made before the hub is drawn only when history was imported.
    """
    target = int(figures.get("objectif_jours", 15))
    charts = {
        "histogramme": delay_histogram(figures["histogramme"], target),
        "tendance": monthly_trend(figures["par_mois"], target),
        "etapes": step_breakdown(figures["etapes"]),
    }
    before = figures["historique"]
    if before["delais"]["nombre"]:
        charts["avant"] = delay_histogram(
            before["histogramme"],
            target,
            chart_id="histogramme-avant",
            title="Délais des transferts faits avant la plateforme",
        )
    return charts
