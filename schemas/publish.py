"""`outputs.push` in a recipe: where and how a build is pushed to the Hugging Face Hub."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PushParams(BaseModel):
    """Push sft / pairwise / unary as configs of one Hub dataset repo (or one repo each).

    The token is never part of a recipe: it comes from HF_TOKEN or `hf auth login`.
    """

    model_config = ConfigDict(extra="forbid")

    repo_id: str = Field(..., pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$",
                         description="the Hub dataset repo, ORG/NAME")
    private: bool = Field(False, description="create the repo private (an existing repo's "
                          "visibility is left as it is)")
    separate_repos: bool = Field(False, description="push each kind to its own repo "
                                 "<repo_id>-<kind> instead of one repo with a config per kind")
    revision: str | None = Field(None, description="branch to commit to (created from main "
                                 "when missing); default: main")
    license: str | None = Field(None, description="license id for the dataset card, e.g. "
                                "apache-2.0, cc-by-4.0 (default: other); use the sources' terms")
    commit_message: str | None = Field(None, description="default: 'datatools build <name>'")
