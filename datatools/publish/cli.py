"""`datatools push` and `datatools report`, mounted on the main app by `register(app)`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def push(
    out: Path = typer.Argument(..., help="a build folder (OUT of `datatools build`)"),
    repo_id: str = typer.Option(..., "--repo-id", help="Hub dataset repo, ORG/NAME"),
    private: bool = typer.Option(False, "--private", help="create the repo private"),
    separate_repos: bool = typer.Option(
        False, "--separate-repos", help="one repo per kind, <repo-id>-<kind>, instead of one "
        "repo with a config per kind"),
    revision: Optional[str] = typer.Option(None, "--revision", help="branch to push to"),
    license: Optional[str] = typer.Option(None, "--license", help="card license id, e.g. "
                                          "cc-by-4.0 (default: the recipe's, else other)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress output"),
):
    """Push sft / pairwise / unary to the Hugging Face Hub with a generated dataset card.

    The token comes from HF_TOKEN or `hf auth login`; it is never printed.
    """
    from datatools.publish.hub import push_dataset
    from datatools.schemas.errors import UserError
    from datatools.schemas.publish import PushParams

    try:  # same rules as `outputs.push` in a recipe
        params = PushParams(repo_id=repo_id, private=private, separate_repos=separate_repos,
                            revision=revision, license=license)
    except ValueError as err:
        raise UserError(f"--repo-id {repo_id!r}: expected ORG/NAME ({err.__class__.__name__})")
    results = push_dataset(out, params.repo_id, private=params.private,
                           separate_repos=params.separate_repos, revision=params.revision,
                           license=params.license, quiet=quiet)
    for r in results:
        typer.echo(f"pushed {', '.join(r.kinds)} → {r.repo_id} ({r.commit_url})")


def report(out: Path = typer.Argument(..., help="a build folder (OUT of `datatools build`)")):
    """(Re)write OUT/report.html: funnel, drop reasons, scores, length bias, KTO balance."""
    from datatools.publish.report_html import render_report

    typer.echo(str(render_report(out)))


def register(app: typer.Typer) -> None:
    app.command("push")(push)
    app.command("report")(report)
