"""A lag trend as an inline SVG sparkline: no script, nothing fetched from elsewhere."""

from __future__ import annotations

from collections.abc import Sequence

WIDTH, HEIGHT, PAD = 120, 24, 2


def sparkline(values: Sequence[float | None], *, label: str = "lag trend") -> str:
    """SVG markup of ``values`` (oldest first); gaps (None) are skipped. Empty when < 2 points."""
    points = [(i, float(v)) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return ""
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    span = high - low or 1.0
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    coords = " ".join(
        f"{PAD + i * step:.1f},{HEIGHT - PAD - (v - low) / span * (HEIGHT - 2 * PAD):.1f}" for i, v in points
    )
    last_x, last_y = coords.rsplit(" ", 1)[-1].split(",")
    title = f"{label}: last {_fmt(points[-1][1])}, min {_fmt(low)}, max {_fmt(high)}"
    # Every interpolated value is a number formatted here: nothing user-supplied reaches the markup.
    return (
        f'<svg class="spark" role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_escape(title)}</title>"
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{coords}"/>'
        f'<circle cx="{last_x}" cy="{last_y}" r="2" fill="currentColor"/></svg>'
    )


def _fmt(seconds: float) -> str:
    from syncgate.ui.formatting import duration

    return duration(seconds)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
