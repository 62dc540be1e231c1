"""The embedded local stack: moto (patched) + the template provisioner + the in-process Lambda
runner, plus the daemon, local API and pipe poller built around them.

Importing this package is cheap; `paycli.local.stack` pulls in moto and boto3, so CLI modules
import it inside command bodies only.
"""
