"""The static leaderboard: result files in, a self-contained site out.

`build.build_site` validates and renders; `serve.serve` shows a built site on 127.0.0.1.
Nothing here imports plugin or model code: the site is made from JSON alone. The HTML
builder (`html`) is shared with `mars_zoo.discover`, so this file imports nothing: importing the
builder must not load the site's build.

May import: core, schema, data, results
"""
