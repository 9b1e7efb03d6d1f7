"""The token and the fail-closed rule, without a cluster: where the token is read, what counts as loopback, and a
non-loopback service without a token refused before anything is deployed."""

import logging

import pytest

from conftest import serve_config
from mentalglm.config import ConfigError
from mentalglm.serve.auth import check_exposure, is_loopback, needs_token, read_token


def test_the_token_file_wins_and_surrounding_whitespace_is_dropped(tmp_path, monkeypatch):
    secret = tmp_path / "token"
    secret.write_text("  s3cret-value\n", encoding="utf-8")
    monkeypatch.setenv("MENTALGLM_API_TOKEN", "from-env\r\n")
    assert read_token(str(secret)) == "s3cret-value"
    assert read_token(None) == "from-env"
    monkeypatch.setenv("MENTALGLM_API_TOKEN", " \n")
    assert read_token(None) is None
    monkeypatch.delenv("MENTALGLM_API_TOKEN")
    assert read_token(None) is None


@pytest.mark.parametrize("content", [None, "\n  \n"])
def test_a_missing_or_empty_token_file_is_an_error_naming_the_key(tmp_path, content):
    secret = tmp_path / "token"
    if content is not None:
        secret.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="serve.token_file"):
        read_token(str(secret))


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False),
                                            ("10.0.0.5", False), ("serve.internal", False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_exposure_rule(caplog):
    check_exposure("127.0.0.1", None, False)  # loopback: open is fine
    check_exposure("0.0.0.0", "tok", False)  # beyond loopback with a token
    with pytest.raises(ConfigError) as refused:
        check_exposure("0.0.0.0", None, False)
    assert "serve.allow_unauthenticated" in str(refused.value) and "serve.token_file" in str(refused.value)
    with caplog.at_level(logging.WARNING, logger="mentalglm.serve.auth"):
        check_exposure("0.0.0.0", None, True)
    assert "without a token" in caplog.text


def test_build_app_refuses_a_non_loopback_service_without_a_token(tiny_model_dir, sample_data_dir, monkeypatch):
    from mentalglm.serve.service import build_app

    monkeypatch.delenv("MENTALGLM_API_TOKEN", raising=False)
    cfg = serve_config(tiny_model_dir, sample_data_dir, 8000, host="0.0.0.0")
    with pytest.raises(ConfigError, match=r"serve\.host: 0\.0\.0\.0 .*serve\.allow_unauthenticated=true"):
        build_app(cfg)
    monkeypatch.setenv("MENTALGLM_API_TOKEN", "tok\n")
    assert build_app(cfg) is not None
    monkeypatch.delenv("MENTALGLM_API_TOKEN")
    assert build_app(cfg.model_copy(update={"serve": cfg.serve.model_copy(
        update={"allow_unauthenticated": True})})) is not None


@pytest.mark.parametrize("path, guarded", [("/v1/analyze", True), ("/v1/models", True), ("/docs", True),
                                           ("/openapi.json", True), ("/redoc", True), ("/healthz", False),
                                           ("/", False), ("/v1", False), ("/docsx", False)])
def test_which_paths_need_the_token(path, guarded):
    assert needs_token(path) is guarded
