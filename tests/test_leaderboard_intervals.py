"""Confidence intervals in the leaderboard tables: printed under each value, a mark where adjacent
rows overlap, and bold for every value tied with the best."""

import re


def test_tables_show_intervals_and_mark_adjacent_overlaps():
    from mars_zoo.leaderboard.columns import TASKS_BY_KEY
    from mars_zoo.leaderboard.entries import Entry
    from mars_zoo.leaderboard.tables import OVERLAP_MARK, task_rows

    def entry(name, map_, interval):
        data = {"model": {"name": name, "family": "x", "modalities": ["image", "text"]}, "provenance": "reproduced",
                "benchmark": {"name": "marsretrieval", "synthetic": False},
                "tasks": {"landform": {"metrics": {"map": map_}, "confidence": {"metrics": {"map": interval}}}}}
        return Entry(data, name, True, name, name, "#000")

    task = TASKS_BY_KEY["landform"]
    rows = task_rows(task, [(1, entry("x/a", 0.5, [0.4, 0.6])), (2, entry("x/b", 0.45, [0.35, 0.55])),
                            (3, entry("x/c", 0.1, [0.05, 0.2]))], "", True)
    headline = 4 + [column.key for column in task.columns].index(task.headline)  # after rank, model, provenance, params
    cells = [row.cells[headline] for row in rows]
    assert "95% CI 40.00 to 60.00" in cells[0].title and OVERLAP_MARK not in str(cells[0].content)
    assert OVERLAP_MARK in "".join(map(str, cells[1].content)) and "overlap" in cells[1].title
    assert OVERLAP_MARK not in str(cells[2].content)


def result_with(name, map_=None, interval=None, per_query=None, seed=7):
    tasks = {}
    if map_ is not None:
        tasks["landform"] = {"metrics": {"map": map_}, "confidence": {"metrics": {"map": interval}}}
    if per_query is not None:
        hits = {direction: sum(rank <= 1 for rank in values["rank"]) / len(values["rank"])
                for direction, values in per_query.items()}
        tasks["paired"] = {"metrics": {direction: {"r1": hit} for direction, hit in hits.items()},
                           "per_query": per_query, "confidence": {"seed": seed, "metrics": {}}}
    return {"model": {"name": name, "family": "x", "modalities": ["image", "text"]}, "provenance": "reproduced",
            "benchmark": {"name": "marsretrieval", "synthetic": False}, "tasks": tasks}


def test_the_overview_shows_intervals_and_marks_overlaps_with_the_next_better_result():
    from mars_zoo.leaderboard.entries import Entry
    from mars_zoo.leaderboard.overview import overview_table
    from mars_zoo.leaderboard.tables import OVERLAP_MARK

    entries = [Entry(result_with(name, value, interval), name, True, name, name, "#000")
               for name, value, interval in (("x/c", 0.1, [0.05, 0.2]), ("x/b", 0.45, [0.35, 0.55]),
                                             ("x/a", 0.5, [0.4, 0.6]))]
    html = str(overview_table(entries)).replace("<wbr>", "")  # the names as text: "x/a"
    rows = {name: html[html.index(f">{name}</a>"):][:1500].split("</tr>")[0] for name in ("x/a", "x/b", "x/c")}
    assert "40.00\u201360.00" in rows["x/a"] and "35.00\u201345.00" not in rows["x/a"]
    assert "35.00\u201355.00" in rows["x/b"] and "5.00\u201320.00" in rows["x/c"]
    # x/b's interval overlaps x/a's (the next better mAP); x/c's does not overlap x/b's.
    assert OVERLAP_MARK in rows["x/b"] and OVERLAP_MARK not in rows["x/a"] and OVERLAP_MARK not in rows["x/c"]


def test_task_tables_print_every_interval_and_bold_every_value_tied_with_the_best():
    from mars_zoo.leaderboard.columns import TASKS_BY_KEY
    from mars_zoo.leaderboard.entries import Entry
    from mars_zoo.leaderboard.tables import table, task_headers, task_rows

    entries = [Entry(result_with(name, value, interval), name, True, name, name, "#000")
               for name, value, interval in (("x/a", 0.5, [0.4, 0.6]), ("x/b", 0.45, [0.35, 0.55]),
                                             ("x/c", 0.38, [0.3, 0.39]), ("x/d", 0.1, None))]
    task = TASKS_BY_KEY["landform"]
    html = str(table("t", "c", task_headers(task, True), task_rows(task, list(enumerate(entries, 1)), "", True)))
    cells = {name: html[html.index(f">{name[2:]}</a>"):].split("</tr>")[0] for name in ("x/a", "x/b", "x/c", "x/d")}

    def headline(row):  # the mAP cell: the only one whose value is a fraction
        return re.search(r'<td data-sort="0\.\d+.*?</td>', row).group()

    # Printed, not only in a tooltip: 'low-high' as the table formats percent.
    assert "40.00\u201360.00" in headline(cells["x/a"]) and "30.00\u201339.00" in headline(cells["x/c"])
    assert "\u2013" not in headline(cells["x/d"]).split(">", 1)[1]  # no interval in the file: none shown
    # Bold: the best (x/a) and x/b, whose interval overlaps x/a's; x/c's does not reach 40.00.
    bold = {name for name, row in cells.items() if 'class="num best"' in headline(row).split(">", 1)[0]}
    assert bold == {"x/a", "x/b"}
    assert "statistically tied with the best" in cells["x/b"] and "statistically tied" not in cells["x/a"]
