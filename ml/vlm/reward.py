"""The artifact reward for generator fine-tuning loops (DDPO-style), from PAR and the VLM's findings.

    reward = clip(1 − PAR − λ · Σ_a w(class(a)), −1, 1)

- PAR ∈ [0, 1]: artifact area / image area from the segmenter's mask (PAL4VST's no-reference metric).
- The sum runs over the artifacts the VLM classifier found (each region counts, so two duplicated hands
  cost twice); w(class) is the class's severity weight (default 1), λ the VLM's share (default 0.1).
- A clean image scores 1; an image half covered in artifacts with three findings scores 1 − 0.5 − 0.3 = 0.2.
  Clipping at −1 keeps one terrible sample from dominating a policy-gradient batch.
- A malformed VLM answer adds nothing (the generator should not be punished for the classifier's
  failure); the service flags it so a training loop can drop such samples.
"""

from __future__ import annotations


def artifact_penalty(classes: list[str], *, severity: dict[str, float] | None = None) -> float:
    """Σ of severity weights of the found artifacts (one entry per artifact, class slugs)."""
    severity = severity or {}
    return float(sum(float(severity.get(c, 1.0)) for c in classes))


def reward(par: float, classes: list[str], *, lam: float = 0.1, severity: dict[str, float] | None = None) -> float:
    value = 1.0 - float(par) - float(lam) * artifact_penalty(classes, severity=severity)
    return max(-1.0, min(1.0, value))


FORMULA = "reward = clip(1 - PAR - lambda * sum(severity[class] for each artifact the VLM found), -1, 1)"
