"""The budget lab: which thinking budget pays on a person's own questions.

``questions`` (question sets, JSONL, the checkers), ``builtin_sets`` (the sets written by
code), ``runner`` (the sweep through the one answer path, its results kept in the store),
``report`` (accuracy with its interval, time, thinking, the recommended budget, OUT.json and
CSV). ``seedchat sweep`` and the page's Budget tab are front ends over them.
"""
