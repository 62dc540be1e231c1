"""Settings resolve flag > environment > config file > default, and the config file round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from paycli.core.errors import ConfigError, UsageError
from paycli.core.settings import (
    Settings,
    config_dir,
    read_config,
    resolve_settings,
    with_target,
    write_config,
)

NO_FLAGS: dict[str, str | None] = {}


def _write(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_defaults_are_local_and_stack_paycli(tmp_path: Path) -> None:
    """With nothing set anywhere, paycli acts on the local stack named paycli."""
    settings = resolve_settings(flags=NO_FLAGS, env={"PAYCLI_HOME": str(tmp_path)})
    assert (settings.target, settings.stack_name, settings.profile, settings.region) == (
        "local",
        "paycli",
        None,
        None,
    )
    assert settings.config_path == tmp_path / "config.toml"


def test_config_file_beats_default_env_beats_config_flag_beats_env(tmp_path: Path) -> None:
    """Each layer overrides the one below it, key by key."""
    _write(tmp_path, 'target = "aws"\nregion = "eu-west-1"\nstack_name = "from-file"\n')
    env = {"PAYCLI_HOME": str(tmp_path), "AWS_REGION": "us-west-2"}
    settings = resolve_settings(flags={"stack_name": "from-flag"}, env=env)
    assert settings.target == "aws"  # config file (no env, no flag)
    assert settings.region == "us-west-2"  # env over config file
    assert settings.stack_name == "from-flag"  # flag over config file


def test_aws_region_wins_over_aws_default_region(tmp_path: Path) -> None:
    """AWS_REGION is the SDK's primary variable; AWS_DEFAULT_REGION only fills in."""
    env = {"PAYCLI_HOME": str(tmp_path), "AWS_DEFAULT_REGION": "ap-south-1"}
    assert resolve_settings(flags=NO_FLAGS, env=env).region == "ap-south-1"
    env["AWS_REGION"] = "eu-central-1"
    assert resolve_settings(flags=NO_FLAGS, env=env).region == "eu-central-1"


def test_env_target_is_case_insensitive_and_unknown_target_is_a_usage_error(
    tmp_path: Path,
) -> None:
    """PAYCLI_TARGET=AWS works; --target moon is refused with the valid choices."""
    env = {"PAYCLI_HOME": str(tmp_path), "PAYCLI_TARGET": "AWS"}
    assert resolve_settings(flags=NO_FLAGS, env=env).target == "aws"
    with pytest.raises(UsageError, match="moon"):
        resolve_settings(flags={"target": "moon"}, env=env)


def test_write_config_round_trips_and_quotes_safely(tmp_path: Path) -> None:
    """What `deploy --target aws` remembers is read back exactly, even with quotes in it."""
    settings = Settings(
        target="aws",
        profile='odd "name"',
        region="eu-west-1",
        stack_name="pay-prod",
        config_path=tmp_path / "sub" / "config.toml",
    )
    path = write_config(settings)
    assert read_config(path) == {
        "target": "aws",
        "profile": 'odd "name"',
        "region": "eu-west-1",
        "stack_name": "pay-prod",
    }


def test_broken_config_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """A half-edited config file stops with its path, not a TOML traceback."""
    _write(tmp_path, "target = \n")
    with pytest.raises(ConfigError, match=r"config\.toml"):
        resolve_settings(flags=NO_FLAGS, env={"PAYCLI_HOME": str(tmp_path)})


def test_a_config_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """Before: a binary or UTF-16 config.toml was "internal error: UnicodeDecodeError ... a
    bug in paycli" on every command."""
    (tmp_path / "config.toml").write_bytes(b"\xff\xfet\x00a\x00")
    with pytest.raises(ConfigError, match=r"cannot read config file .*config\.toml") as caught:
        resolve_settings(flags=NO_FLAGS, env={"PAYCLI_HOME": str(tmp_path)})
    assert caught.value.hint == "fix or delete the file"


def test_missing_config_file_is_empty() -> None:
    """No file yet (first run) is not an error."""
    assert read_config(Path("/nonexistent/paycli/config.toml")) == {}


def test_config_dir_prefers_paycli_home_then_app_dir(tmp_path: Path) -> None:
    """PAYCLI_HOME isolates tests and CI; otherwise the platform app dir from the CLI."""
    assert config_dir({"PAYCLI_HOME": str(tmp_path)}, Path("/x")) == tmp_path
    assert config_dir({}, Path("/x")) == Path("/x")
    assert config_dir({"XDG_CONFIG_HOME": "/cfg"}) == Path("/cfg/paycli")


def test_describe_names_the_target() -> None:
    """Human output says where it acted."""
    assert Settings(target="local").describe() == "local stack"
    aws = Settings(target="aws", region="eu-west-1", profile="ops", stack_name="pay")
    assert aws.describe() == "AWS stack pay (eu-west-1, profile ops)"
    assert with_target(aws, "local").describe() == "local stack"
