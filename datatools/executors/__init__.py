"""Executors: what runs a recipe's steps. Steps do not know which one runs them.

- `local` (`pipeline._build` → `pipeline.run_steps`): the whole frame in this process, each
  step called once.
- `ray` (`executors.ray_build.build_on_ray`): the build streamed over Ray Data blocks of whole
  records (`ray_read` reads the sources into them, large JSONL files by `ray_ranges` tasks,
  and `ray_ids` settles their record ids; `ray_steps` runs the steps: `row` and
  `record` steps block by block, `global` steps through their own distributed plan —
  `ray_dedup` — or, without one, once on the collected frame).
"""
