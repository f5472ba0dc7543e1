"""Confidence intervals in the leaderboard tables: in the tooltip, and a mark where adjacent rows overlap."""


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
