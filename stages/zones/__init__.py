"""Zones and lines (issue 25): counts and events per tracked person and object.

`config.py` (the `zones` stage's config and its checks), `geometry.py` (sides, segment crossings,
point in polygon, anchors; numpy), `counter.py` (per-track state machines for lines and zones, and the
counts), `events.py` (the event types), `stage.py` (the stage: rows -> anchors -> counters -> events,
the `zones` column, counts for stats and Prometheus, drawing data for the `zones` annotator).
"""
