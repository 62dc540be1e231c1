"""Can the stack be deployed in a region? Answered offline, before anything else runs.

- The region must be one AWS has: cfn-lint's region list (it ships a resource schema set per
  region) and botocore's partition data name it.
- Every resource type of the translated template must exist there: cfn-lint's own per-region
  provider schemas say which (AWS::Pipes::Pipe is missing from several regions and from
  GovCloud), so nothing here is a hand-kept list of services.
- The public Powertools layer must be published there: the template's `PowertoolsLayer` mapping
  names the publishing account per partition; outside the commercial partition the layer exists
  only in the regions Powertools documents (China: cn-north-1; GovCloud: both regions, with an
  account each, which the mapping does not cover since Pipes is missing there anyway).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

#: Regions outside the commercial partition where Powertools for AWS Lambda (Python) V3
#: publishes its layer (Powertools docs, "AWS China regions", "AWS GovCloud regions"). In the
#: commercial partition ("aws") it is published in every region.
POWERTOOLS_LAYER_REGIONS: Final[Mapping[str, frozenset[str]]] = {
    "aws-cn": frozenset({"cn-north-1"}),
    "aws-us-gov": frozenset({"us-gov-east-1", "us-gov-west-1"}),
}
COMMERCIAL: Final = "aws"
LAYER_MAPPING: Final = "PowertoolsLayer"


@dataclass(frozen=True)
class RegionSupport:
    """What a region lacks for this template (empty `problems`: deployable)."""

    region: str
    partition: str | None
    missing_types: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "partition": self.partition,
            "supported": self.ok,
            "missing_resource_types": list(self.missing_types),
            "problems": list(self.problems),
        }


def known_regions() -> list[str]:
    """Every region cfn-lint has resource schemas for."""
    from cfnlint.helpers import REGIONS  # noqa: PLC0415 - cfn-lint loads only when checking

    return list(REGIONS)


@functools.cache
def _endpoints() -> Any:
    from botocore.loaders import create_loader  # noqa: PLC0415
    from botocore.regions import EndpointResolver  # noqa: PLC0415

    return EndpointResolver(create_loader().load_data("endpoints"))


def partition_of(region: str) -> str | None:
    """The region's partition from botocore's endpoint data (no session, no profile read)."""
    from botocore.exceptions import UnknownRegionError  # noqa: PLC0415

    try:
        return str(_endpoints().get_partition_for_region(region))
    except UnknownRegionError:
        return None


@functools.cache
def resource_types_in(region: str) -> frozenset[str]:
    """The CloudFormation resource types cfn-lint's schemas list for `region`."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # noqa: PLC0415

    return frozenset(PROVIDER_SCHEMA_MANAGER.get_resource_types(region))


def check_region(
    region: str, template: Mapping[str, Any], translated: Mapping[str, Any]
) -> RegionSupport:
    """Everything `region` lacks for the SAM `template` and its `translated` form."""
    partition = partition_of(region)
    if region not in known_regions() or partition is None:
        problem = f"{region!r} is not an AWS region (cfn-lint and botocore know no such region)"
        return RegionSupport(region, partition, (), (problem,))
    used = {str(r.get("Type")) for r in (translated.get("Resources") or {}).values()}
    missing = tuple(sorted(used - resource_types_in(region)))
    problems = [
        f"{kind} is not available in {region} (cfn-lint's resource schemas for the region)"
        for kind in missing
    ]
    problems += _layer_problems(region, partition, template)
    return RegionSupport(region, partition, missing, tuple(problems))


def _layer_problems(region: str, partition: str, template: Mapping[str, Any]) -> list[str]:
    """The Powertools layer: published in the region, and its account mapped for the partition."""
    problems = []
    published = POWERTOOLS_LAYER_REGIONS.get(partition)
    if partition != COMMERCIAL and (published is None or region not in published):
        where = ", ".join(sorted(published)) if published else "no region"
        problems.append(
            f"the Powertools for AWS Lambda layer is not published in {region} "
            f"(partition {partition}: {where})"
        )
    mapping = (template.get("Mappings") or {}).get(LAYER_MAPPING) or {}
    if partition not in mapping:
        problems.append(
            f"the template's {LAYER_MAPPING} mapping names no layer account for partition "
            f"{partition}"
        )
    return problems


def supported_regions(template: Mapping[str, Any], translated: Mapping[str, Any]) -> list[str]:
    """Every region where `check_region` finds nothing missing (for the error's hint)."""
    return [r for r in known_regions() if check_region(r, template, translated).ok]
