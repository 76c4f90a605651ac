"""Steps of the 'judge' family (registered by name in datatools/registry.py).

One registry name per judge type (not one `judge` step with a `type:` key): each type has its
own params, so a recipe typo is reported against the right key set, `datatools schema` shows
one clean params object per step, and required columns are known per step before any model
loads. Every judge writes `judge_<name>` and (unless `set_score: false`) `score`.
"""
