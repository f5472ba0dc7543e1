"""Discovery: search the tile gallery in words or with example images, and map the hits.

Built on the evaluation's own pieces, so that a model evaluated once is searched for
free: the gallery embeddings come from the same cache entries task 3 writes, queries
are built with task 3's rules (`query`), ranked by the same exact search (`hits`), and
drawn on the dataset's basemap in a self-contained page (`page`) made with the
leaderboard's HTML builder, the only part of `mars_zoo.leaderboard` it imports.

May import: core, data, models, embedding, scoring, tasks, leaderboard, pipeline
"""
