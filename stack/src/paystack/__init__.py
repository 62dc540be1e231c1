"""paystack: the payment pipeline's Lambda code.

`paystack.domain` holds the rules and the DynamoDB operations (importable by the CLI, clients
injected); `paystack.handlers` holds the thin Lambda entry points named in stack/template.yaml.
Only the standard library, boto3 and aws_lambda_powertools may be imported here: that is all the
Lambda runtime and the public Powertools layer provide.
"""
