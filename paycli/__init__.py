"""paycli: a serverless payment pipeline on AWS and the CLI that deploys and operates it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("paycli")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
