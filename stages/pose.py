"""The `pose` stage: 17 COCO keypoints per person, from a YOLO pose model.

Two ways, chosen by `input:`
- `input: null` (the default): the pose model runs on whole frames and writes its own set of people
  (boxes and keypoints), as a detector would;
- `input: <set>`: top-down. The pose model runs on a crop around each person of that set (found by
  a detector stage before it) and adds keypoints to those rows (`stages/pose_topdown.py`). People too
  small for a pose model on the whole frame get keypoints this way.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from stages.detect import YoloConfig, YoloStage

DEFAULT_POSE_REFRESH = 3  # the default config's refresh_frames (measured in docs/guides/detection.md, "Pose refresh")


class PoseConfig(YoloConfig):
    """`type: pose`: a YOLO pose model, on whole frames or on the people of a detection set."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"boxes", "classes", "embeddings", "keypoints"})

    type: Literal["pose"] = "pose"
    model: str = Field("yolo11n-pose", description="Built-in model name (yolo11n-pose) or a path to an "
                       "ultralytics pose .pt or .onnx file.")
    imgsz: int | Literal["auto"] = Field(
        640, description="Whole-frame mode: the long side of the network input (a multiple of 32) or auto (3/4 "
        "of the frame's long side, 640 to 1280; see the detect stage). 640 by default: the action rules and "
        "the pose-only figures were measured there. Top-down mode crops to `crop_size` instead.")
    output: str = Field("people", pattern=r"^[A-Za-z0-9_.-]+$", description="Name of the detection set "
                        "written in whole-frame mode (`input: null`).")
    input: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="Top-down: the detection set "
                              "whose people get keypoints (the model runs on a crop around each one); "
                              "null: run on whole frames and write the set `output`.")
    crop_size: tuple[int, int] = Field((192, 128), description="Top-down: the network input (height, width) "
                                       "each person's crop is resized into (multiples of 32).")
    crop_margin: float = Field(0.15, ge=0.0, le=1.0, description="Top-down: context added around each "
                               "person's box, as a share of its width and height on each side.")
    crop_score_min: float = Field(0.1, ge=0.0, le=1.0, description="Top-down: the least score of a pose found "
                                  "in a person's crop (the detector already found the person and match_iou "
                                  "ties the pose to it; with 0.25 a person cut by the image border kept no pose "
                                  "in most frames of the demo, with 0.1 in none).")
    match_iou: float = Field(0.3, ge=0.0, le=1.0, description="Top-down: the least IoU between the person's "
                             "box and the pose found in its crop for the keypoints to be taken.")

    refresh_frames: int = Field(1, ge=1, le=1000, description="Top-down, tracked people: the pose model "
                                "sees a person at most every N frames (and sooner when its box's height changes, "
                                "see refresh_change); in between, the person's last keypoints move and scale "
                                "with its box. Rows get `keypoints_age` (frames since the model saw them). "
                                "Needs a track stage before this one; untracked rows are posed every frame.")
    refresh_change: float = Field(0.1, ge=0.0, le=10.0, description="Top-down with refresh_frames > 1: a "
                                  "tracked person whose box height changed by more than this share "
                                  "since its last pose is posed again at once (bending, sitting, falling).")

    @field_validator("crop_size")
    @classmethod
    def _crop_steps(cls, size: tuple[int, int]) -> tuple[int, int]:
        if any(side < 32 or side > 1024 or side % 32 for side in size):
            raise ValueError(f"crop_size must be (height, width), each a multiple of 32 from 32 to 1024, got {size}")
        return size

    @model_validator(mode="after")
    def _whole_frame_only(self) -> PoseConfig:
        if self.input is not None and self.every_frames > 1:
            raise ValueError("every_frames is for whole-frame models; top-down pose (input: set) follows the "
                             "rows of its set: use refresh_frames to pose each tracked person less often")
        return self

    def needs(self) -> frozenset[str]:
        return frozenset({"boxes"}) if self.input is not None else frozenset()

    def provides(self) -> tuple[str | None, frozenset[str]]:
        if self.input is not None:
            return None, frozenset({"keypoints"})
        return self.output, self.capabilities


class PoseStage(YoloStage):
    """Whole-frame pose (`input: null`): the detect stage's code with a pose model."""


def pose_stage(config: PoseConfig) -> YoloStage:
    """The stage for `config`: top-down on a set's people when `input` is set, else whole frames."""
    if config.input is not None:
        from stages.pose_topdown import TopDownPoseStage

        return TopDownPoseStage(config)
    return PoseStage(config)
