"""The linter of the SAM app: what `paycli validate`, CI, plain `cfn-lint` and the local stack run.

- `translate`: the offline aws-sam-translator output (the CloudFormation `sam deploy` submits);
- `rules`: AWS's deploy-time rules that linters miss, as cfn-lint custom rules (named in the
  repo's `.cfnlintrc`), checked against the translated template;
- `findings`, `cfn`, `asl`, `code`, `stack`: the checks `paycli validate` runs over one model.
"""
