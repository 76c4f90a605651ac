"""Push a build to the Hugging Face Hub: the builder's only network side effect.

Each repo gets one commit holding `<kind>/train.parquet` (+ metadata.json) for its kinds and
the generated card as README.md. One commit, rather than `Dataset.push_to_hub` per config and
a card upload after, means a reader never sees data without its card (or a card naming a
config whose files are not there yet), and the Hub layout is the local OUT layout, so the
card's `configs` are correct in both places. Old parquet files of a pushed kind are deleted
in the same commit, so `<kind>/*.parquet` never picks up a previous push's shards.

The token comes from the argument, HF_TOKEN or `hf auth login`; it is never printed or logged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from datatools.publish import facts
from datatools.publish.errors import NoTokenError, NotABuildError, PushError


@dataclass
class PushResult:
    repo_id: str
    kinds: list[str]
    commit_url: str
    files: list[str]


def load_build(out_dir: Path) -> tuple[dict, list[str]]:
    """(report, kinds present on disk) — or a clear error when OUT is not a build folder."""
    out_dir = Path(out_dir)
    if not (out_dir / "report.json").is_file():
        raise NotABuildError(out_dir)
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    kinds = [k for k in facts.built_kinds(report) if (out_dir / k / "train.parquet").is_file()]
    if not kinds:
        raise NotABuildError(out_dir, "no sft/, pairwise/ or unary/ dataset in it")
    return report, kinds


def resolve_token(token: str | None) -> str:
    if token:
        return token
    from huggingface_hub import get_token

    found = get_token()  # HF_TOKEN, then the token saved by `hf auth login`
    if not found:
        raise NoTokenError()
    return found


def targets(repo_id: str, kinds: list[str], separate_repos: bool) -> list[tuple[str, list[str]]]:
    if separate_repos:
        return [(f"{repo_id}-{kind}", [kind]) for kind in kinds]
    return [(repo_id, kinds)]


def push_dataset(out_dir: Path, repo_id: str, private: bool = False,
                 separate_repos: bool = False, token: str | None = None,
                 revision: str | None = None, license: str | None = None,
                 commit_message: str | None = None, quiet: bool = False) -> list[PushResult]:
    """Push OUT's datasets as configs of `repo_id` (or one repo `<repo_id>-<kind>` each)."""
    out_dir = Path(out_dir)
    report, kinds = load_build(out_dir)
    token = resolve_token(token)
    from huggingface_hub import HfApi
    from huggingface_hub.utils import disable_progress_bars

    from datatools.progress import progress_bar

    if quiet:
        disable_progress_bars()
    api = HfApi(token=token)
    message = commit_message or f"datatools build {report.get('name', '')}".strip()
    results = []
    plan = targets(repo_id, kinds, separate_repos)
    with progress_bar(len(plan), "push", quiet=quiet) as advance:
        for repo, repo_kinds in plan:
            try:
                results.append(_push_one(api, out_dir, report, repo, repo_kinds, private,
                                         revision, license, message))
            except Exception as err:  # noqa: BLE001 - reworded below, never with the token
                raise _user_error(err, repo, token) from None
            advance(1)
    return results


def _push_one(api, out_dir: Path, report: dict, repo: str, kinds: list[str], private: bool,
              revision: str | None, license: str | None, message: str) -> PushResult:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    from datatools.publish.card import render_card

    # private=None when not asked: the namespace's default visibility applies to a new repo
    api.create_repo(repo, repo_type="dataset", private=private or None, exist_ok=True)
    if revision:
        api.create_branch(repo, branch=revision, repo_type="dataset", exist_ok=True)
    uploads = {}
    for kind in kinds:
        for name in ("train.parquet", "test.parquet", "metadata.json"):
            if (out_dir / kind / name).is_file():
                uploads[f"{kind}/{name}"] = out_dir / kind / name
    existing = api.list_repo_files(repo, repo_type="dataset", revision=revision)
    stale = [f for f in existing if f.endswith(".parquet") and f.split("/")[0] in kinds
             and f not in uploads]
    card = render_card(report, repo_id=repo, kinds=kinds, license=license)
    operations = [CommitOperationDelete(path_in_repo=f) for f in stale]
    operations += [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(src))
                   for p, src in uploads.items()]
    operations.append(CommitOperationAdd(path_in_repo="README.md",
                                         path_or_fileobj=card.encode("utf-8")))
    info = api.create_commit(repo, operations, commit_message=message, repo_type="dataset",
                             revision=revision)
    return PushResult(repo, kinds, str(getattr(info, "commit_url", info)),
                      sorted([*uploads, "README.md"]))


def _user_error(err: Exception, repo: str, token: str) -> PushError:
    """HTTP failures → a PushError saying what to fix; the token is scrubbed just in case."""
    from huggingface_hub.errors import HfHubHTTPError

    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(err, HfHubHTTPError) and status in (401, 403):
        text = (f"the Hub refused the push to {repo} (HTTP {status}): the token lacks write "
                "access to this namespace, or is invalid")
    elif isinstance(err, HfHubHTTPError):
        text = f"pushing to {repo} failed (HTTP {status}): {str(err).splitlines()[0]}"
    elif isinstance(err, OSError) or _is_transport_error(err):
        text = f"could not reach the Hub while pushing to {repo}: {type(err).__name__}: {err}"
    else:
        raise err
    return PushError(text.replace(token, "***") if token else text)


def _is_transport_error(err: Exception) -> bool:
    """httpx's (or its fork's) connect/timeout/protocol errors: not OSError subclasses, and
    the HTTP library huggingface_hub uses differs between versions, so matched by its type."""
    return any(cls.__name__ in ("TransportError", "ConnectError", "TimeoutException",
                                "NetworkError", "ProtocolError", "ConnectionError")
               for cls in type(err).__mro__)
