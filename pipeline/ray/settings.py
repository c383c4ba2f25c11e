"""`runner.ray`: how a config's streams are spread over Ray actors (ignored by the single-process runner)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RaySettings(BaseModel):
    """Placement and fault handling of the Ray runner (`run.py run CONFIG --ray ...`)."""

    model_config = ConfigDict(extra="forbid")

    streams_per_actor: int = Field(4, ge=1, le=256, description="Streams one actor (one Argus pipeline: "
                                   "decoder, models, tracker) serves; actors = ceil(sources / this).")
    num_cpus_per_actor: float = Field(1.0, ge=0, description="CPUs Ray reserves for each actor.")
    num_gpus_per_actor: float = Field(0.0, ge=0, description="GPUs Ray reserves for each actor (0: CPU actors).")
    max_restarts: int = Field(-1, ge=-1, description="Times Ray restarts a killed actor (-1: always).")
    lost_after_polls: float = Field(10.0, ge=2, description="An actor that has not answered a poll for this "
                                    "many of its typical poll round trips (the median of its last 20) is lost: "
                                    "a loaded machine's slower polls raise the limit with them.")
    lost_after_min_s: float = Field(10.0, gt=0, description="The lost-actor limit is never shorter than this. "
                                    "A killed actor is reported by Ray itself within seconds; this limit "
                                    "catches a hung actor or an unreachable node.")
    move_after_s: float = Field(8.0, gt=0, description="Streams of an actor lost for this long move to the "
                                "least-loaded live actors (a lost node).")
    spread: bool = Field(True, description="Place actors on as many nodes as possible (Ray SPREAD).")
