"""The foundation every other package stands on: atomic writes (`atomic`), the error types
(`errors`), the cache folders (`folders`), field-path problems (`problems`), paths built from
strings read from files (`safe_paths`), remembered file stats (`stat_memo`), arrays kept as .npz
cache files (`array_records`), what a command tells
its user (`reporting`), recorded revisions (`revision_record`) and the constants of the benchmark
protocol (`protocol`), which data readers, models, tasks and metrics all follow.

May import: nothing
"""
