"""SAM's AWS_IAM authorizer invokes the function with the caller's credentials by default.

SAM's `Auth.InvokeRole` defaults to CALLER_CREDENTIALS, written into the integration as
credentials `arn:aws:iam::*:user/*` (samtranslator `swagger.py`, `_get_invoke_role`;
aws/serverless-application-model#923). API Gateway then calls Lambda as the caller, so a caller
holding only `execute-api:Invoke` is refused with a 500. `Auth: InvokeRole: NONE` uses the
Lambda permission SAM creates instead.
"""

from __future__ import annotations

from paycli.lint.deploy._model import Problem, Stack

SOURCE = (
    "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/"
    "sam-property-api-apiauth.html (InvokeRole)"
)
CALLER_CREDENTIALS = "arn:aws:iam::*:user/*"
_ERROR = (
    "Execution failed due to configuration error: Invalid permissions on Lambda function "
    "(API Gateway answers 500 Internal server error to a caller without lambda:InvokeFunction)"
)
_INTEGRATION = "x-amazon-apigateway-integration"


def check(stack: Stack) -> list[Problem]:
    """Every method whose integration runs with the caller's credentials."""
    problems: list[Problem] = []
    for api_id, props in stack.of_type("AWS::ApiGateway::RestApi"):
        body = props.get("Body")
        paths = body.get("paths") if isinstance(body, dict) else None
        for path, methods in (paths if isinstance(paths, dict) else {}).items():
            for method, operation in (methods if isinstance(methods, dict) else {}).items():
                integration = operation.get(_INTEGRATION) if isinstance(operation, dict) else None
                if isinstance(integration, dict) and _is_caller(integration.get("credentials")):
                    problems.append(
                        Problem(
                            ("Resources", api_id, "Properties", "Body", "paths", path, method),
                            _ERROR,
                            f"{api_id}: {method.upper()} {path} invokes its function with the "
                            f"caller's credentials ({CALLER_CREDENTIALS}); set Auth: InvokeRole: "
                            "NONE on the API",
                        )
                    )
    return problems


def _is_caller(credentials: object) -> bool:
    return isinstance(credentials, str) and credentials.endswith(":iam::*:user/*")
