"""`datatools push` / `datatools report` as mounted on the main `datatools` app."""
from __future__ import annotations

import typer
from typer.testing import CliRunner


def app() -> typer.Typer:
    from datatools.cli import app as main_app

    return main_app


def test_report_command_writes_the_page(built, tmp_path):
    import shutil

    out, _ = built
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "report.html").unlink()
    result = CliRunner().invoke(app(), ["report", str(copy)])
    assert result.exit_code == 0, result.output
    assert (copy / "report.html").is_file() and str(copy / "report.html") in result.output


def test_report_on_a_non_build_folder_is_a_user_error(tmp_path):
    result = CliRunner().invoke(app(), ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a datatools build folder" in result.output


def test_push_validates_repo_id_and_needs_a_token(built, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    out, _ = built
    bad = CliRunner().invoke(app(), ["push", str(out), "--repo-id", "no-slash"])
    assert bad.exit_code == 1 and "expected ORG/NAME" in bad.output
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    result = CliRunner().invoke(app(), ["push", str(out), "--repo-id", "acme/prefs"])
    assert result.exit_code == 1, result.output
    assert "no Hugging Face token found" in result.output
