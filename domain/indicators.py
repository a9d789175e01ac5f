"""The declared indicators of an application (CONTRACT.md §2), as field lists per track.

The edge checks their shapes; the service checks that a resubmission carries every field of the
application's own track, which only the application knows.
"""

from __future__ import annotations

INDUSTRIAL = "industrial"  # 产业型
APPLICATION = "application"  # 应用型
TRACKS = (INDUSTRIAL, APPLICATION)

COMMON_FIELDS: tuple[str, ...] = (
    "leadership_mechanism",
    "management_body",
    "operations_team",
    "zone_defined",
    "planned_area_mu",
    "core_area_mu",
    "application_projects",
    "plan_status",
    "support_policies",
    "funding_ratio",
    "service_platforms",
    "fibre_mbps",
    "lte_full_coverage",
    "public_wlan_full_coverage",
)

TRACK_FIELDS: dict[str, tuple[str, ...]] = {
    INDUSTRIAL: (
        "backbone_enterprises_200m",
        "internet_enterprises_30m",
        "internet_enterprises",
        "internet_enterprises_with_rd",
        "innovation_platforms",
        "rd_collaborations",
    ),
    APPLICATION: (
        "internet_tech_enterprises",
        "traditional_enterprises",
        "traditional_enterprises_integrated",
        "enterprises",
        "enterprises_with_it_department",
        "innovation_platforms",
        "rd_collaborations",
    ),
}

LIVELIHOOD_SUBFIELDS: tuple[str, ...] = (
    "medical",
    "health",
    "elderly_care",
    "education",
    "culture",
    "social_security",
    "community",
)
PROJECT_FIELDS: tuple[str, ...] = (
    "manufacturing",
    "agriculture",
    "finance",
    "logistics",
    "commerce",
    "transport",
    "government",
    "livelihood",
) + LIVELIHOOD_SUBFIELDS

OPERATIONS_TEAM = ("established", "forming", "none")
PLAN_STATUS = ("issued", "drafting", "none")


def missing_track_fields(track: str, indicators: dict) -> list[str]:
    """The fields of ``track`` (common ones included) absent from ``indicators``."""
    wanted = COMMON_FIELDS + TRACK_FIELDS[track]
    return [name for name in wanted if name not in indicators]
