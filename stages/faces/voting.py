"""Identity per track: the faces seen on a track vote, and a name must win clearly.

Each face that passed the quality gates is one attempt:

- it votes for the best enrolled person only when its distance is within `threshold` AND it beats
  the runner-up person by `face_margin` (a face halfway between two people votes for nobody); its
  weight is its quality weight x its margin below the threshold (a face just under the threshold
  weighs almost nothing);
- otherwise it is an `unknown` attempt. Unknown never votes for a name, but it is evidence: a name
  is only given when its votes outnumber the unknown attempts.

A name is decided when it has at least `min_votes` agreeing faces, its weight is at least
`win_ratio` x the runner-up name's weight, and its count is larger than the number of unknown
attempts. A track is `unknown` once it has `min_votes` unknown attempts and no decided name.
Frigate weighs by area and margin too, but one lucky look-alike frame can name a stranger there
(a single attempt that passes a threshold); here a stranger must look like the same person
in several good faces, more often than not, and unambiguously.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class VoteRules:
    threshold: float = 0.95
    face_margin: float = 0.1
    min_votes: int = 2
    win_ratio: float = 2.0
    settle_votes: int = 4  # a name with this many agreeing faces (and no rival) is settled


@dataclass
class TrackVote:
    weights: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unknown: int = 0
    identity: str | None = None  # name, UNKNOWN, or None (no decision yet)
    score: float = 0.0  # confidence of `identity` in [0, 1]
    announced: str | None = None  # the identity last sent as a face_recognized event

    @property
    def faces(self) -> int:
        return sum(self.counts.values()) + self.unknown

    def add(self, rules: VoteRules, name: str | None, distance: float, runner_up_distance: float,
            quality: float) -> str | None:
        """Count one face; returns the name it voted for (None for an unknown attempt)."""
        if name is not None and distance <= rules.threshold and runner_up_distance - distance >= rules.face_margin:
            margin = (rules.threshold - distance) / rules.threshold
            self.weights[name] += quality * max(margin, 0.01)
            self.counts[name] += 1
            voted: str | None = name
        else:
            self.unknown += 1
            voted = None
        self._decide(rules)
        return voted

    def _decide(self, rules: VoteRules) -> None:
        ranked = sorted(self.weights.items(), key=lambda kv: -kv[1])
        if ranked:
            best, weight = ranked[0]
            rival = ranked[1][1] if len(ranked) > 1 else 0.0
            count = self.counts[best]
            if count >= rules.min_votes and weight >= rules.win_ratio * rival and count > self.unknown:
                total = sum(self.weights.values())
                agree = weight / total if total else 0.0
                support = count / (count + self.unknown)
                self.identity = best
                self.score = round(float(min(1.0, agree * support * min(1.0, weight / count * 2.0 + 0.5))), 3)
                return
        if self.unknown >= rules.min_votes:
            self.identity = UNKNOWN
            self.score = round(self.unknown / max(self.faces, 1), 3)
        else:
            self.identity, self.score = None, 0.0

    def settled(self, rules: VoteRules) -> bool:
        """Whether more faces are not worth looking for (a clear name, or many unknown attempts)."""
        if self.identity not in (None, UNKNOWN):
            best = self.counts[self.identity]
            others = sum(c for n, c in self.counts.items() if n != self.identity)
            return best >= rules.settle_votes and others == 0 and self.unknown <= best // 4
        return False
