"""Cell by cell against the paper: do our mean scores have the paper's sign and size?

For every cell both have (domain, task, subroutine, variant, regime, architecture family), the mean
ablation and subnetwork scores of our included runs beside the paper's published runs
(``sclib.stats.reference.paper_runs``), the sign of each (below, near or above 0, by a
fixed margin), whether the signs agree, and for each disagreement one sentence on what
differs between the two set-ups there (scale, image size, pretraining dose, seeds). The
sentence is built from the cell's own attributes and our profile, never from the scores.
Used by notebook 02 and, through ``agreement_markdown``, the README.

>>> sign(-0.2), sign(0.01), sign(0.3)
('below 0', 'near 0', 'above 0')
"""

from __future__ import annotations

import pandas as pd

from sclib.readme_blocks import NOT_COMMITTED, markers, replace_block
from sclib.stats.vocabulary import as_bool

# architecture -> family: the paper's models and ours of the same design. MiniLM is a
# BERT-architecture encoder (distilled from a larger BERT), so it meets the paper's
# BERT-small; every row also names our architecture.
FAMILIES = {
    "resnet": "ResNet",
    "wide_resnet": "WideResNet",
    "bert_small": "BERT",
    "minilm": "BERT",
}
PAPER_NAMES = {"resnet": "ResNet50", "wide_resnet": "WideResNet50", "bert_small": "BERT-small"}
# a cell: the same task, subroutine, number variant (language: singular against the paper's
# singular runs) and regime, in the same architecture family
KEYS = ["domain", "task", "subroutine", "variant", "regime", "family"]
SCORES = ("ablation_score", "subnetwork_score")
MARGIN = 0.05  # |mean| within this of 0 reads as "near 0" (fixed; never tuned on results)


def sign(value: float, margin: float = MARGIN) -> str:
    """``"below 0"``, ``"near 0"`` (within ``margin``) or ``"above 0"``."""
    if value < -margin:
        return "below 0"
    return "above 0" if value > margin else "near 0"


def _cell_means(runs: pd.DataFrame, source: str) -> pd.DataFrame:
    runs = runs.assign(family=runs["architecture"].map(FAMILIES))
    unknown = sorted(set(runs.loc[runs["family"].isna(), "architecture"]))
    if unknown:
        raise ValueError(f"no architecture family for {unknown}; known: {', '.join(FAMILIES)}")
    seed = "base_seed" if "base_seed" in runs else "base_model_seed"
    grouped = runs.groupby(KEYS, sort=True)
    out = grouped.agg(
        architecture=("architecture", lambda a: "+".join(sorted(set(a)))),
        n_runs=("ablation_score", "size"),
        n_seeds=(seed, "nunique"),
        ablation_score=("ablation_score", "mean"),
        subnetwork_score=("subnetwork_score", "mean"),
    )
    return out.add_prefix(f"{source}_").reset_index()


def agreement_table(
    ours: pd.DataFrame, paper: pd.DataFrame, margin: float = MARGIN, profile=None
) -> pd.DataFrame:
    """One row per cell both tables have: each side's architecture, runs, base seeds and
    mean scores; ``<score>_diff`` (ours minus the paper's), each side's ``<score>_sign``,
    ``<score>_agrees`` and ``agrees`` (both scores' signs); ``why`` a sentence for each
    disagreement (empty where the signs agree).

    ``ours`` are run rows (excluded runs are dropped here); ``paper`` is ``paper_runs()``
    (its excluded base models already dropped). ``profile`` maps a domain to our Profile,
    for the sentences (image size); None leaves it out.
    """
    if "excluded" in ours:
        ours = ours[~as_bool(ours["excluded"])]
    table = _cell_means(ours, "ours").merge(_cell_means(paper, "paper"), on=KEYS, how="inner")
    agrees = pd.Series(True, index=table.index)
    for score in SCORES:
        mine, theirs = table[f"ours_{score}"], table[f"paper_{score}"]
        table[f"{score}_diff"] = mine - theirs
        table[f"ours_{score}_sign"] = mine.map(lambda v: sign(v, margin))
        table[f"paper_{score}_sign"] = theirs.map(lambda v: sign(v, margin))
        same = table[f"ours_{score}_sign"] == table[f"paper_{score}_sign"]
        table[f"{score}_agrees"] = same
        agrees &= same
    table["agrees"] = agrees
    table["why"] = [
        "" if row.agrees else why_they_differ(row, margin, profile) for row in table.itertuples()
    ]
    return table


def _layers(profile) -> str:
    """``"4-layer "`` when the profile truncates the encoder, else ``""``."""
    layers = dict(getattr(profile, "model_kwargs", ()) or ()).get("num_layers")
    return f"{layers}-layer " if layers else ""


def why_they_differ(row, margin: float = MARGIN, profile=None) -> str:
    """One sentence on what differs between our set-up and the paper's in this cell: the
    set-up, read from our profile of the domain and the ``paper`` profile where given,
    not the scores (which disagree is said by the table)."""
    from sclib.experiments.profile_settings import get_profile

    ours = profile.get(row.domain) if profile else None
    paper = get_profile(row.domain, "paper")
    parts = []
    paper_model = PAPER_NAMES.get(row.paper_architecture, row.paper_architecture)
    if row.domain == "vision":
        size = f"{ours.image_size}-px" if ours is not None else "smaller"
        parts.append(
            f"our {row.ours_architecture} is a small CNN of its family on {size} images, the "
            f"paper's a {paper_model} at {paper.image_size} px"
        )
    else:
        layers = _layers(ours) if ours is not None else ""
        data = f"{ours.n_train:,} problems" if ours is not None else "fewer problems"
        parts.append(
            f"our {row.ours_architecture} is a {layers}encoder trained on {data}, "
            f"the paper's {paper_model} on {paper.n_train:,}"
        )
    if row.regime == "pretrained":
        config = getattr(ours, "simclr" if row.domain == "vision" else "mlm", None)
        steps = f"{config.max_steps} steps" if getattr(config, "max_steps", None) else "short"
        if row.domain == "vision":
            parts.append(f"our SimCLR dose is {steps} on the task images, a fraction of theirs")
        elif "minilm" in row.ours_architecture:
            parts.append(
                "our pretrained model is MiniLM's sentence embedder, theirs BERT-small after "
                "masked-LM pretraining"
            )
        else:
            parts.append(f"our masked-LM dose is {steps}")
    if row.regime == "untrained":
        parts.append("an untrained control's scores depend on how the architecture is initialised")
    if row.ours_n_seeds < 3:
        parts.append(
            f"we have {row.ours_n_seeds} included base seed(s), the paper {row.paper_n_seeds}"
        )
    near = [
        s.replace("_score", "")
        for s in SCORES
        if not getattr(row, f"{s}_agrees")
        and "near 0" in (getattr(row, f"ours_{s}_sign"), getattr(row, f"paper_{s}_sign"))
    ]
    if near:
        parts.append(f"one side's {' and '.join(near)} mean is within {margin:g} of 0")
    return "; ".join(parts) + "."


def agreement_summary(table: pd.DataFrame) -> str:
    """The agreement rate in one line: cells, and how many agree in each score's sign."""
    n = len(table)
    if n == 0:
        return "no cell in common with the paper yet"
    parts = [
        f"{int(table[f'{s}_agrees'].sum())}/{n} in the {s.replace('_', ' ')}'s sign" for s in SCORES
    ]
    return f"{int(table['agrees'].sum())}/{n} cells agree with the paper in both signs ({', '.join(parts)})"


def agreement_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown (for the README): a row per cell, the disagreements' reasons."""
    head = (
        "| cell | ours (runs, seeds) | ablation: ours / paper | subnetwork: ours / paper | agree |\n"
        "|---|---|---|---|---|"
    )
    lines = [head]
    for r in table.itertuples():
        variant = "" if r.variant == "none" else f" ({r.variant})"
        cell = f"{r.domain} {r.task}{variant} {r.subroutine}, {r.regime}, {r.family}"
        lines.append(
            f"| {cell} | {r.ours_architecture} ({r.ours_n_runs}, {r.ours_n_seeds}) | "
            f"{r.ours_ablation_score:+.2f} / {r.paper_ablation_score:+.2f} | "
            f"{r.ours_subnetwork_score:+.2f} / {r.paper_subnetwork_score:+.2f} | "
            f"{'yes' if r.agrees else 'no'} |"
        )
    lines.append("")
    lines.append(agreement_summary(table) + ".")
    for r in table.itertuples():
        if not r.agrees:
            variant = "" if r.variant == "none" else f" ({r.variant})"
            lines.append(
                f"- {r.domain} {r.task}{variant} {r.subroutine}, {r.regime}, {r.family}: {r.why}"
            )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ the README's block

README_START, README_END = markers("agreement", "python -m sclib.stats.agreement")


def standard_agreement(results_dir=None) -> pd.DataFrame | None:
    """The agreement table of the committed standard runs (``data/results/standard``, each
    cell's included base seeds: ``sclib.experiments.seeds``); None when not committed."""
    from sclib.experiments.collect import read_table
    from sclib.experiments.profile_settings import notebook_profiles
    from sclib.paths import RESULTS_DIR
    from sclib.stats.reference import paper_runs

    ours = read_table(
        (RESULTS_DIR if results_dir is None else results_dir) / "standard" / "runs.csv"
    )
    if ours is None:
        return None
    profiles = notebook_profiles("standard", sorted(ours["domain"].unique()))
    return agreement_table(ours, paper_runs(), profile=profiles)


def readme_body(table: pd.DataFrame | None) -> str:
    """What stands between the README's markers for ``table`` (None: not committed yet)."""
    if table is None:
        return NOT_COMMITTED
    return agreement_markdown(table)


def readme_block(table: pd.DataFrame | None) -> str:
    """The README's block between ``README_START`` and ``README_END``, markers included."""
    return f"{README_START}\n{readme_body(table)}{README_END}"


def write_readme(readme, table: pd.DataFrame | None) -> bool:
    """Replace the block in ``readme`` (a path) with ``readme_block(table)``; True if it changed."""
    return replace_block(readme, README_START, README_END, readme_body(table))


def main() -> int:
    """``python -m sclib.stats.agreement``: print the table, rewrite the README's block."""
    from sclib.paths import ROOT

    table = standard_agreement()
    print(readme_block(table))
    changed = write_readme(ROOT / "README.md", table)
    print("README.md", "updated" if changed else "already up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
