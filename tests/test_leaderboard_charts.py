"""The label placement and text fitting of the charts, without a browser (the browser tests measure the drawn text)."""

from mars_zoo.leaderboard.svg import spread
from mars_zoo.leaderboard.text_width import fit, text_width


def test_spread_keeps_labels_apart_in_order_and_near_their_marks():
    wanted = [50.0, 52.0, 10.0, 51.0, 200.0, 199.0]
    placed = spread(wanted, 14.0, 0.0, 210.0)
    ordered = sorted(range(len(wanted)), key=lambda i: wanted[i])
    ys = [placed[i] for i in ordered]
    assert all(b - a >= 14.0 - 1e-9 for a, b in zip(ys, ys[1:]))  # apart, and in the marks' order
    assert placed[2] == 10.0  # a label with room stays at its mark
    assert max(placed) <= 210.0 and min(placed) >= 0.0  # they fit, so they stay within the bounds
    assert abs(placed[4] - 200.0) <= 14.0 and abs(placed[5] - 199.0) <= 14.0  # pushed back up, not far down


def test_spread_runs_on_below_the_bottom_only_when_the_labels_do_not_fit():
    placed = spread([5.0] * 10, 10.0, 0.0, 40.0)
    assert sorted(placed) == [float(10 * i) for i in range(10)]


def test_fit_cuts_names_of_wide_characters_sooner_and_keeps_within_the_room():
    room, size = 100.0, 11.0
    for name in ("xss/<math><mtext></mtext><mglyph>", "WMWMWMWMWMWMWM", "ill.ill.ill.ill.ill.ill.ill.ill",
                 "openclip/vit-l-16-siglip2-512", "short"):
        shown = fit(name, room, size)
        assert text_width(shown, size) <= room, name
        assert shown == name or (shown.endswith("\u2026") and name.startswith(shown[:-1])), name
    assert fit("short", room, size) == "short"
    assert len(fit("W" * 40, room, size)) < len(fit("a" * 40, room, size)) < len(fit("i" * 40, room, size))
    assert text_width("Title", size, bold=True) > text_width("Title", size)
