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


def test_the_task_1_headline_interval_is_the_bootstrap_of_the_per_pair_mean():
    import numpy as np

    from mars_zoo.leaderboard.columns import HEADLINES
    from mars_zoo.uncertainty import paired_confidence

    ranks = np.random.default_rng(3).integers(1, 4, size=(2, 200))
    per_query = {"t2i": {"rank": ranks[0].tolist()}, "i2t": {"rank": ranks[1].tolist()}}
    result = result_with("x/a", per_query=per_query, seed=11)
    low, high = HEADLINES[0].interval(result)
    # Independently: the same draws as the file's intervals (seed 11, 1000 resamples of the 200 pairs).
    draws = np.random.default_rng(11).integers(0, 200, size=(1000, 200))
    means = ((ranks[0] <= 1).astype(float)[draws].mean(axis=1) + (ranks[1] <= 1).astype(float)[draws].mean(axis=1)) / 2
    assert [low, high] == np.percentile(means, [2.5, 97.5]).tolist()
    # Both directions alike: the mean's interval is each direction's own, as the file states it.
    same = result_with("x/a", per_query={"t2i": per_query["t2i"], "i2t": per_query["t2i"]}, seed=11)
    assert list(HEADLINES[0].interval(same)) == paired_confidence(same["tasks"]["paired"]["per_query"], 11)[
        "metrics"]["t2i"]["r1"]
    assert HEADLINES[0].interval(result_with("x/a", 0.5, [0.4, 0.6])) is None  # no task 1 at all
