"""The `zones` stage's config: lines and polygons in frame pixels, with the checks `run.py check` runs.

Bad input is a one-line error naming the line or zone: a polygon with fewer than 3 points or whose
edges cross, a line whose two points coincide, an id used twice among the lines or among the zones.
Points outside the frame are only known once a stream starts: the stage warns then.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.stage import StageConfig
from stages.zones.geometry import self_intersection

ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
MIN_FRAMES_S = 0.3  # default confirmation time: min_frames is about this many seconds of the stream


class LineConfig(BaseModel):
    """A counting line: a segment from its first point to its second."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, description="Name of the line (events, stats, metrics).")
    points: list[tuple[float, float]] = Field(description="Two points [[x, y], [x, y]] in frame pixels. "
                                              "`in` is a crossing to the right-hand side of the line walked "
                                              "from the first point to the second, as seen on the image.")
    classes: list[str] | None = Field(None, description="Class names counted (e.g. [person]); null: every "
                                      "class of the input.")

    @model_validator(mode="after")
    def _segment(self) -> LineConfig:
        if len(self.points) != 2:
            raise ValueError(f"line '{self.id}': needs exactly 2 points, got {len(self.points)}")
        if self.points[0] == self.points[1]:
            raise ValueError(f"line '{self.id}': its two points coincide ({_xy(self.points[0])})")
        return self


class ZoneConfig(BaseModel):
    """A zone: a simple polygon (its edges never cross)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, description="Name of the zone (events, the rows' `zones`, stats).")
    polygon: list[tuple[float, float]] = Field(description="At least 3 points [[x, y], ...] in frame pixels, "
                                               "in order around the zone.")
    loiter_s: float | None = Field(None, gt=0, description="Seconds a track may stay before `zone_loitering` "
                                   "(once per stay); null: never.")
    classes: list[str] | None = Field(None, description="Class names watched (e.g. [person]); null: every "
                                      "class of the input.")

    @model_validator(mode="after")
    def _simple(self) -> ZoneConfig:
        if len(self.polygon) < 3:
            raise ValueError(f"zone '{self.id}': a polygon needs at least 3 points, got {len(self.polygon)}")
        crossing = self_intersection(self.polygon)
        if crossing is not None:
            i, j = crossing
            raise ValueError(f"zone '{self.id}': the polygon crosses itself (edge {i} from {_xy(self.polygon[i])} "
                             f"meets edge {j} from {_xy(self.polygon[j])})")
        return self


class ZonesConfig(StageConfig):
    """Lines and zones over tracked rows: crossings, enter/exit/loitering events and counts."""

    type: Literal["zones"] = "zones"
    input: str | None = Field(None, pattern=ID_PATTERN, description="The detection set watched (e.g. `people`); "
                              "null: every tracked row.")
    anchor: Literal["feet", "bottom_center", "center"] = Field(
        "feet", description="The point of a row that crosses lines and stands in zones: `feet` (the mean of "
        "the ankle keypoints with confidence >= 0.5, else the box's bottom centre), `bottom_center` or `center`.")
    lines: list[LineConfig] = Field(default_factory=list, description="Counting lines: [{id, points, classes}].")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones: [{id, polygon, loiter_s, classes}].")
    min_frames: int | None = Field(None, ge=1, le=1000, description="Frames a track must stay on a line's new "
                                   "side (or in / out of a zone) before it counts; default: about "
                                   f"{MIN_FRAMES_S} s at the stream's frame rate (from its timestamps).")
    recount_s: float = Field(2.0, ge=0, le=86_400, description="A track counts at most once per line and "
                             "direction within this many seconds.")
    sources: list[str] | None = Field(None, description="Source ids watched (cameras differ in geometry); "
                                      "null: every source.")

    @field_validator("lines", "zones")
    @classmethod
    def _unique(cls, items: list[LineConfig] | list[ZoneConfig]) -> list:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                kind = "line" if isinstance(item, LineConfig) else "zone"
                raise ValueError(f"repeated {kind} id '{item.id}'")
            seen.add(item.id)
        return items

    def needs(self) -> frozenset[str]:
        """Crossings and stays are per track: the rows need track ids (and boxes for the anchor)."""
        return frozenset({"boxes", "track_ids"})

    def provides(self) -> tuple[str | None, frozenset[str]]:
        """It adds the `zones` column to the rows it reads."""
        return None, frozenset({"zones"})


def _xy(point: tuple[float, float]) -> str:
    return f"[{point[0]:g}, {point[1]:g}]"
