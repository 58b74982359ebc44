"""Helpers for tests that need synthetic ``sclib.experiments.runner.run_cell`` rows."""

from __future__ import annotations

OTHER = {"inside": "contact", "contact": "inside", "subject": "verb", "verb": "subject"}
LANGUAGE_TASKS = ("sv_agreement", "anaphora")


def run_identity(
    task: str = "inside_contact",
    subroutine: str = "inside",
    architecture: str = "resnet",
    regime: str = "scratch",
    variant: str = "none",
    base_seed: int = 0,
    mask_seed: int = 0,
    pretraining: str = "none",
    profile: str = "quick",
) -> dict:
    """The columns of a run row that say which run it is (scores are the caller's)."""
    return {
        "source": "sclib",
        "domain": "language" if task in LANGUAGE_TASKS else "vision",
        "task": task,
        "architecture": architecture,
        "subroutine": subroutine,
        "other_subroutine": OTHER[subroutine],
        "regime": regime,
        "variant": variant,
        "base_seed": base_seed,
        "mask_seed": mask_seed,
        "pretraining": pretraining,
        "base_model_id": f"{task}-{architecture}-{regime}-{variant}-{base_seed}",
        "profile": profile,
    }
