"""paycli: a serverless payment pipeline on AWS and the CLI that deploys and operates it."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`paycli.__version__`, read on first use: importlib.metadata costs ~40 ms of every start-up
    (`paycli --help` included) and only `--version` and the AWS user agent need it."""
    if name != "__version__":
        raise AttributeError(f"module 'paycli' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("paycli")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"
