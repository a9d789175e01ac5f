"""Write ``adapters/demo_batch.jsonl``: the demo batch of the call GD-ITOWN-2017-B2.

Run from the repository root::

    .venv/bin/python scripts/make_demo_batch.py            # writes the file, prints a summary
    .venv/bin/python scripts/make_demo_batch.py --expect   # also prints each line's expected answer

Standard library only; ``random.Random(2017)`` makes the output the same on every run.

The line format
---------------
One JSON object per line, in arrival (record) order. Three kinds:

``{"principal": NAME, "envelope": {...}}``
    A contract envelope (CONTRACT.md §2) sent as the principal NAME of ``adapters/towns.toml``.
    A ``null`` principal, or a name not in the configuration (``"ghost-system"``), means the
    sender has no valid credentials.
``{"principal": NAME, "raw": TEXT}``
    Bytes that are not a usable envelope, as text: not JSON, a JSON array, truncated JSON.
``{"control": "deadline_check", "call_id": "GD-ITOWN-2017-B2", "as_of": "2017-03-31T23:59:59+08:00"}``
    Exactly one line: the deadline check runs here (cutoff 2017-03-30T23:59:59+08:00, grace one
    day). Every line after it arrives "late" in record time.

What the batch holds
--------------------
About eighty applications from all 22 jurisdictions (Pearl River Delta and east, west and north
Guangdong), both tracks, named after real towns (``"Beijiao Town (北滘镇)"``, refs such as
``SD-2017-001``), with declared indicators that pass, warn (area shortfalls the province waives
with a reason), fail (2 backbone and 8 internet enterprises, an R&D share of 19 %, funding
1 : 0.5 : 1, 50 Mbps fibre) or sit exactly on a threshold (300 mu, 3 of 10 = 30 %).

Every path of the life cycle appears: approved (materials in one receipt or two); returned,
resubmitted and approved; rejected by the city from submitted, returned and city_verified;
rejected by the province after evaluation (with a failing clause) and from recommended;
withdrawn from every open state (and after the check); re-evaluated; left open at recommended
or evaluated; lapsing at the check (never verified, never recommended, returned and abandoned,
materials missing, incomplete, not A4-bound or dated after the cutoff). After the check: timely
evidence that reinstates lapsed applications, late evidence refused, timely submissions that
first arrive after the check (they lapse at once; one is then reinstated), and more
evaluations, approvals and a rejection.

Faults are mixed in: exact duplicates (one with its keys in another order), reused message ids
with another body, malformed bytes, schema errors, an unknown type, an unknown call, senders
without credentials, forbidden senders in all their forms, unknown applications, events out of
order, invalid transitions, failed preconditions and submissions after the deadline.

The script replays the batch through a small model of DOMAIN.md's rules and stops if any line
would not get the answer it was written for; ``--expect`` prints that answer for every line.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "adapters" / "demo_batch.jsonl"
CONFIG = ROOT / "adapters" / "towns.toml"

SEED = 2017
CALL_ID = "GD-ITOWN-2017-B2"
OTHER_CALL_ID = "GD-ITOWN-2018-B3"  # a call that does not exist
TZ = timezone(timedelta(hours=8))
CUTOFF = datetime(2017, 3, 30, 23, 59, 59, tzinfo=TZ)
CHECK_AS_OF = CUTOFF + timedelta(days=1)
AUTO = "<assigned in arrival order>"  # placeholder message_id

PRD, EWN = "prd", "ewn"
IND, APP = "industrial", "application"
APPLICANT, CITY, PROVINCE = "applicant", "city", "province"

# =============================================================================================
# Jurisdictions and towns

# code: (ref prefix, region)
CITIES: dict[str, tuple[str, str]] = {
    "guangzhou": ("GZ", PRD), "shenzhen": ("SZ", PRD), "zhuhai": ("ZH", PRD),
    "foshan": ("FS", PRD), "shunde": ("SD", PRD), "huizhou": ("HZ", PRD),
    "dongguan": ("DG", PRD), "zhongshan": ("ZS", PRD), "jiangmen": ("JM", PRD),
    "zhaoqing": ("ZQ", PRD), "shantou": ("ST", EWN), "shanwei": ("SW", EWN),
    "chaozhou": ("CZ", EWN), "jieyang": ("JY", EWN), "yangjiang": ("YJ", EWN),
    "zhanjiang": ("ZJ", EWN), "maoming": ("MM", EWN), "shaoguan": ("SG", EWN),
    "heyuan": ("HY", EWN), "meizhou": ("MZ", EWN), "qingyuan": ("QY", EWN),
    "yunfu": ("YF", EWN),
}
PROVINCE_ORG = ("Guangdong Provincial Economic and Information Commission, "
                "Informatization Promotion Division")
OFFICERS = ["chen", "li", "huang", "liang", "lin", "zhang", "wu", "he", "zheng", "luo", "xie"]


@dataclass
class Town:
    """One application: the town, its applicant body, its track, profile and path."""

    ref: str
    city: str
    town_en: str
    town_zh: str
    track: str
    profile: str  # how its declared indicators read against the criteria
    path: str  # the life-cycle path it takes
    kind: str = "town_government"
    body: tuple[str, str] | None = None  # applicant body (English, Chinese)
    owner: str | None = None  # the applicant principal; default "<city>-applicant"
    opts: dict = field(default_factory=dict)
    # filled in while the batch is built
    indicators: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.owner = self.owner or f"{self.city}-applicant"
        if self.body is None:
            if self.town_en.endswith("Subdistrict"):
                self.body = (f"{self.town_en} Office", f"{self.town_zh}办事处")
            else:
                self.body = (f"{self.town_en} People's Government", f"{self.town_zh}人民政府")

    @property
    def region(self) -> str:
        return CITIES[self.city][1]

    @property
    def town_name(self) -> str:
        return f"{self.town_en} ({self.town_zh})"

    @property
    def body_name(self) -> str:
        return f"{self.body[0]} ({self.body[1]})"


def town(ref, city, en, zh, track, profile, path, **kw) -> Town:
    known = {"kind", "body", "owner"}
    return Town(ref, city, en, zh, track, profile, path,
                **{k: v for k, v in kw.items() if k in known},
                opts={k: v for k, v in kw.items() if k not in known})


def towns_table() -> list[Town]:
    """Every application of the batch that is (eventually) recorded, with its path."""
    return [
        # --- Pearl River Delta ------------------------------------------------------------
        town("GZ-2017-001", "guangzhou", "Xintang Town", "新塘镇", IND, "good", "approved"),
        town("GZ-2017-002", "guangzhou", "Shawan Town", "沙湾镇", APP, "good",
             "returned_then_approved", first="no_zone"),
        town("GZ-2017-003", "guangzhou", "Shiqiao Subdistrict", "市桥街道", APP, "area",
             "approved"),
        town("GZ-2017-004", "guangzhou", "Guangzhou Science City", "广州科学城", IND, "edge",
             "approved", kind="high_tech_zone", owner="guangzhou-applicant-2",
             body=("Guangzhou Science City Management Committee", "广州科学城管委会")),
        town("GZ-2017-005", "guangzhou", "Shiling Town", "狮岭镇", IND, "few_enterprises",
             "rejected_by_province", approve_attempt=True),
        town("GZ-2017-006", "guangzhou", "Wenquan Town", "温泉镇", APP, "good", "lapses",
             at="submitted", kind="tourism_zone",
             body=("Conghua Hot Spring Tourism Zone Management Committee", "从化温泉旅游区管委会")),
        town("GZ-2017-007", "guangzhou", "Tianhe Software Park", "天河软件园", IND, "good",
             "approved", approve_late=True, kind="industrial_park", owner="guangzhou-applicant-2",
             body=("Tianhe Software Park Management Committee", "天河软件园管委会")),
        town("SZ-2017-001", "shenzhen", "Shekou Subdistrict", "蛇口街道", IND, "good", "approved"),
        town("SZ-2017-002", "shenzhen", "Bantian Subdistrict", "坂田街道", IND, "area",
             "reevaluated", approve_attempt=True),
        town("SZ-2017-003", "shenzhen", "Qianhai Bay Bonded Port Area", "前海湾保税港区", IND,
             "good", "open_recommended", kind="bonded_zone",
             body=("Qianhai Authority of Shenzhen", "深圳市前海管理局")),
        town("SZ-2017-004", "shenzhen", "Guanlan Subdistrict", "观澜街道", APP, "good",
             "withdrawn", at="submitted"),
        town("ZH-2017-001", "zhuhai", "Hengqin New Area", "横琴新区", IND, "good", "approved",
             split="1+1", kind="other",
             body=("Hengqin New Area Management Committee", "横琴新区管委会")),
        town("ZH-2017-002", "zhuhai", "Tangjiawan Town", "唐家湾镇", APP, "good",
             "recommended_before_verified"),
        town("ZH-2017-003", "zhuhai", "Baijiao Town", "白蕉镇", APP, "area",
             "reinstated_by_receipt"),
        town("FS-2017-001", "foshan", "Xiqiao Town", "西樵镇", APP, "area", "approved"),
        town("FS-2017-002", "foshan", "Shishan Town", "狮山镇", IND, "good", "approved"),
        town("FS-2017-003", "foshan", "Danzao Town", "丹灶镇", IND, "low_rd",
             "rejected_by_province", kind="industrial_park", owner="foshan-applicant-2",
             body=("Danzao Industrial Park Management Committee", "丹灶工业园管委会")),
        town("FS-2017-004", "foshan", "Leping Town", "乐平镇", APP, "good", "rejected_by_city",
             at="city_verified"),
        town("FS-2017-005", "foshan", "Yanghe Town", "杨和镇", IND, "good", "lapses",
             at="city_verified"),
        town("SD-2017-001", "shunde", "Beijiao Town", "北滘镇", IND, "edge", "approved"),
        town("SD-2017-002", "shunde", "Lecong Town", "乐从镇", APP, "good", "approved",
             split="2+e"),
        town("SD-2017-003", "shunde", "Ronggui Subdistrict", "容桂街道", IND, "area",
             "reevaluated", approve_attempt=True),
        town("SD-2017-004", "shunde", "Longjiang Town", "龙江镇", APP, "good", "withdrawn",
             at="evaluated"),
        town("SD-2017-005", "shunde", "Chencun Town", "陈村镇", APP, "good",
             "reinstated_by_earlier_receipt"),
        town("HZ-2017-001", "huizhou", "Chenjiang Subdistrict", "陈江街道", IND, "good",
             "approved"),
        town("HZ-2017-002", "huizhou", "Xinxu Town", "新圩镇", APP, "good", "rejected_by_city",
             at="submitted"),
        town("HZ-2017-003", "huizhou", "Yuanzhou Town", "园洲镇", IND, "area", "open_evaluated",
             approve_attempt=True),
        town("DG-2017-001", "dongguan", "Songshan Lake High-tech Zone", "松山湖高新区", IND,
             "good", "approved", kind="high_tech_zone",
             body=("Songshan Lake High-tech Zone Management Committee", "松山湖高新区管委会")),
        town("DG-2017-002", "dongguan", "Chang'an Town", "长安镇", IND, "good", "approved",
             split="1+1"),
        town("DG-2017-003", "dongguan", "Humen Town", "虎门镇", APP, "good",
             "approved_before_evaluated"),
        town("DG-2017-004", "dongguan", "Qingxi Town", "清溪镇", IND, "weak_network",
             "rejected_by_province", late=True),
        town("DG-2017-005", "dongguan", "Dalang Town", "大朗镇", APP, "good", "withdrawn",
             at="returned"),
        town("ZS-2017-001", "zhongshan", "Guzhen Town", "古镇镇", APP, "edge", "approved"),
        town("ZS-2017-002", "zhongshan", "Xiaolan Town", "小榄镇", IND, "good",
             "returned_then_approved", first="no_team", from_verified=True),
        town("ZS-2017-003", "zhongshan", "Torch Development Zone", "火炬开发区", IND, "good",
             "lapses", at="recommended", materials="none", kind="high_tech_zone",
             body=("Zhongshan Torch Hi-tech Industrial Development Zone Management Committee",
                   "中山火炬高技术产业开发区管委会")),
        town("JM-2017-001", "jiangmen", "Chikan Town", "赤坎镇", APP, "area", "approved",
             kind="tourism_zone",
             body=("Chikan Ancient Town Tourism Zone Management Committee", "赤坎古镇旅游区管委会")),
        town("JM-2017-002", "jiangmen", "Guanghai Town", "广海镇", APP, "good",
             "rejected_by_city", at="returned"),
        town("JM-2017-003", "jiangmen", "Shengtang Town", "圣堂镇", IND, "good", "lapses",
             at="submitted"),
        town("JM-2017-004", "jiangmen", "Jiangmen Hi-tech Zone", "江门高新区", IND, "good",
             "approved", approve_late=True, kind="high_tech_zone",
             body=("Jiangmen Hi-tech Zone Management Committee", "江门高新区管委会")),
        town("ZQ-2017-001", "zhaoqing", "Dasha Town", "大沙镇", APP, "good", "approved"),
        town("ZQ-2017-002", "zhaoqing", "Jindu Town", "金渡镇", IND, "good", "withdrawn",
             at="city_verified"),
        town("ZQ-2017-003", "zhaoqing", "Yong'an Town", "永安镇", APP, "good", "lapses",
             at="returned"),
        # --- East, west and north Guangdong -----------------------------------------------
        town("ST-2017-001", "shantou", "Lianxia Town", "莲下镇", IND, "good", "approved"),
        town("ST-2017-002", "shantou", "Gurao Town", "谷饶镇", APP, "edge", "approved"),
        town("ST-2017-003", "shantou", "Liangying Town", "两英镇", APP, "few_enterprises",
             "rejected_by_province"),
        town("SW-2017-001", "shanwei", "Meilong Town", "梅陇镇", APP, "area", "approved"),
        town("SW-2017-002", "shanwei", "Jieshi Town", "碣石镇", IND, "good", "lapses",
             at="recommended", materials="unbound"),
        town("SW-2017-003", "shanwei", "Gongping Town", "公平镇", APP, "good",
             "rejected_by_city", at="submitted"),
        town("CZ-2017-001", "chaozhou", "Caitang Town", "彩塘镇", IND, "good", "approved"),
        town("CZ-2017-002", "chaozhou", "Anbu Town", "庵埠镇", APP, "good", "open_recommended"),
        town("CZ-2017-003", "chaozhou", "Huanggang Town", "黄冈镇", APP, "good",
             "reinstated_by_recommendation", kind="county_government",
             body=("Raoping County People's Government", "饶平县人民政府")),
        town("JY-2017-001", "jieyang", "Yujiao Town", "玉滘镇", IND, "good", "approved"),
        town("JY-2017-002", "jieyang", "Mianhu Town", "棉湖镇", APP, "good", "withdrawn",
             at="recommended"),
        town("JY-2017-003", "jieyang", "Liusha East Subdistrict", "流沙东街道", APP, "area2",
             "reevaluated"),
        town("YJ-2017-001", "yangjiang", "Zhapo Town", "闸坡镇", APP, "area", "approved",
             kind="tourism_zone",
             body=("Hailing Island Tourism Zone Management Committee", "海陵岛旅游区管委会")),
        town("YJ-2017-002", "yangjiang", "Dongcheng Town", "东城镇", IND, "low_funding",
             "rejected_by_province"),
        town("YJ-2017-003", "yangjiang", "Chunwan Town", "春湾镇", APP, "good", "lapses",
             at="submitted"),
        town("ZJ-2017-001", "zhanjiang", "Anpu Town", "安铺镇", APP, "good", "approved"),
        town("ZJ-2017-002", "zhanjiang", "Wuyang Town", "吴阳镇", APP, "good", "lapses",
             at="recommended", materials="late"),
        town("ZJ-2017-003", "zhanjiang", "Donghai Island", "东海岛", IND, "good", "approved",
             eval_late=True, kind="other",
             body=("Donghai Island Economic Development Zone Management Committee",
                   "东海岛经济开发区管委会")),
        town("MM-2017-001", "maoming", "Genzi Town", "根子镇", APP, "good", "approved",
             kind="county_government",
             body=("Gaozhou City People's Government", "高州市人民政府")),
        town("MM-2017-002", "maoming", "Shuidong Town", "水东镇", IND, "good",
             "returned_then_approved", first="no_plan"),
        town("MM-2017-003", "maoming", "Gongguan Town", "公馆镇", APP, "good",
             "rejected_by_city", at="city_verified"),
        town("SG-2017-001", "shaoguan", "Danxia Subdistrict", "丹霞街道", APP, "good",
             "approved", kind="tourism_zone",
             body=("Danxiashan Tourism Zone Management Committee", "丹霞山管委会")),
        town("SG-2017-002", "shaoguan", "Rucheng Town", "乳城镇", APP, "good", "lapses",
             at="city_verified"),
        town("SG-2017-003", "shaoguan", "Taiping Town", "太平镇", IND, "good",
             "open_evaluated"),
        town("HY-2017-001", "heyuan", "Heyuan Hi-tech Zone", "河源高新区", IND, "good",
             "approved", split="unlabelled", kind="high_tech_zone",
             body=("Heyuan Hi-tech Zone Management Committee", "河源高新区管委会")),
        town("HY-2017-002", "heyuan", "Lantang Town", "蓝塘镇", APP, "good",
             "rejected_by_province", after="recommended"),
        town("HY-2017-003", "heyuan", "Laolong Town", "老隆镇", APP, "good", "open_recommended"),
        town("MZ-2017-001", "meizhou", "Yanyang Town", "雁洋镇", APP, "edge", "approved",
             approve_late=True),
        town("MZ-2017-002", "meizhou", "Sanhe Town", "三河镇", APP, "good", "approved",
             split="1+1", kind="county_government",
             body=("Dabu County People's Government", "大埔县人民政府")),
        town("MZ-2017-003", "meizhou", "Songkou Town", "松口镇", APP, "good", "lapses",
             at="submitted"),
        town("QY-2017-001", "qingyuan", "Taihe Town", "太和镇", APP, "good", "approved"),
        town("QY-2017-002", "qingyuan", "Shijiao Town", "石角镇", IND, "area", "reevaluated",
             late=True),
        town("QY-2017-003", "qingyuan", "Yuantan Town", "源潭镇", IND, "good", "withdrawn",
             at="after_check"),
        town("YF-2017-001", "yunfu", "Liuzu Town", "六祖镇", APP, "good", "approved"),
        town("YF-2017-002", "yunfu", "Nanjiangkou Town", "南江口镇", APP, "good",
             "submitted_after_check", reinstate=True),
        town("YF-2017-003", "yunfu", "Shuangdong Subdistrict", "双东街道", IND, "good",
             "submitted_after_check"),
    ]


# =============================================================================================
# Declared indicators

AREA_NEEDED = {(IND, PRD): (300, 150), (IND, EWN): (300, 150),
               (APP, PRD): (300, 150), (APP, EWN): (200, 100)}
INDUSTRIAL_PROJECTS = [
    ("Industrial internet platform for appliance makers", "manufacturing"),
    ("Cross-border e-commerce logistics hub", "logistics"),
    ("Supply-chain finance service platform", "finance"),
    ("B2B trading platform for local products", "commerce"),
    ("Smart traffic signal network", "transport"),
    ("One-window online government services", "government"),
    ("Rural e-commerce service stations", "agriculture"),
    ("Smart community service platform", "community"),
]
LIVELIHOOD_PROJECTS = [
    ("Internet hospital and tele-consultation", "medical"),
    ("Home elderly-care service platform", "elderly_care"),
    ("Smart campus and online classrooms", "education"),
    ("Digital culture centre and library", "culture"),
    ("Online social-security service counters", "social_security"),
    ("Smart community grid management", "community"),
    ("Family-doctor health records app", "health"),
    ("Town livelihood services portal", "livelihood"),
]
OTHER_PROJECTS = [
    ("Rural e-commerce service stations", "agriculture"),
    ("Online tourism booking and smart scenic area", "commerce"),
]


def _projects(rng: random.Random, track: str) -> list[dict]:
    if track == IND:
        chosen = rng.sample(INDUSTRIAL_PROJECTS, rng.randint(2, 4))
    else:
        chosen = rng.sample(LIVELIHOOD_PROJECTS, rng.randint(2, 3))
        if rng.random() < 0.4:
            chosen.append(rng.choice(OTHER_PROJECTS))
    return [{"name": name, "field": fld} for name, fld in chosen]


def _areas(rng: random.Random, track: str, region: str, profile: str) -> tuple[Any, Any]:
    planned_needed, core_needed = AREA_NEEDED[(track, region)]
    if profile == "edge":
        return planned_needed, core_needed  # exactly on the threshold: passes
    if profile == "area" and track == APP:
        planned = 280 if region == PRD else 190  # a planned-area shortfall: a warning
        return planned, core_needed + 5 * rng.randint(1, 8)
    if profile == "area":
        return 10 * rng.randint(40, 120), 140  # industrial: core area 140 < 150 mu
    if profile == "area2":
        return (280, 140) if region == PRD else (190, 95)  # both short
    planned = 10 * rng.randint(planned_needed // 10 + 6, planned_needed // 2)
    core = 5 * rng.randint(core_needed // 5 + 4, planned // 10)
    if rng.random() < 0.25:
        core += 0.5  # areas are surveyed, not always whole mu
    return planned, core


def common_indicators(rng: random.Random, track: str, region: str, profile: str) -> dict:
    planned, core = _areas(rng, track, region, profile)
    edge = profile == "edge"
    funding = {"province": 1, "city": rng.choice([1, 1, 1.5, 2]),
               "district": rng.choice([1, 1, 2, 3])}
    if edge:
        funding = {"province": 1, "city": 1, "district": 1}
    if profile == "low_funding":
        funding = {"province": 1, "city": 0.5, "district": 1}  # city below province: fails (6)
    return {
        "leadership_mechanism": True,
        "management_body": True,
        "operations_team": "none" if profile == "no_team" else rng.choice(
            ["established", "established", "forming"]),
        "zone_defined": profile != "no_zone",
        "planned_area_mu": planned,
        "core_area_mu": core,
        "application_projects": _projects(rng, track),
        "plan_status": "none" if profile == "no_plan" else rng.choice(["issued", "drafting"]),
        "support_policies": True,
        "funding_ratio": funding,
        "service_platforms": 3 if edge else rng.randint(4, 11),
        "fibre_mbps": 50 if profile == "weak_network" else (
            100 if edge else rng.choice([200, 500, 1000])),
        "lte_full_coverage": True,
        "public_wlan_full_coverage": profile != "weak_network",
    }


def industrial_indicators(rng: random.Random, profile: str) -> dict:
    if profile == "edge":  # 3 backbone (and only 9 smaller firms), 5 of 25 = 20 % with R&D
        return {"backbone_enterprises_200m": 3, "internet_enterprises_30m": 9,
                "internet_enterprises": 25, "internet_enterprises_with_rd": 5,
                "innovation_platforms": 3, "rd_collaborations": 10}
    total = rng.randint(40, 160)
    ind = {
        "backbone_enterprises_200m": rng.randint(3, 9),
        "internet_enterprises_30m": rng.randint(10, 45),
        "internet_enterprises": total,
        "internet_enterprises_with_rd": total // 4 + rng.randint(1, total // 4),
        "innovation_platforms": rng.randint(3, 12),
        "rd_collaborations": rng.randint(10, 45),
    }
    if profile == "few_enterprises":  # neither 3 backbone nor 10 internet enterprises
        ind.update(backbone_enterprises_200m=2, internet_enterprises_30m=8)
    if profile == "low_rd":  # 19 of 100 = 19 % < 20 %
        ind.update(internet_enterprises=100, internet_enterprises_with_rd=19)
    return ind


def application_indicators(rng: random.Random, profile: str) -> dict:
    if profile == "edge":  # 3 of 10 = 30 % integrated, 6 of 20 = 30 % with an IT department
        return {"internet_tech_enterprises": 3, "traditional_enterprises": 10,
                "traditional_enterprises_integrated": 3, "enterprises": 20,
                "enterprises_with_it_department": 6, "innovation_platforms": 1,
                "rd_collaborations": 3}
    traditional = rng.randint(40, 220)
    tech = rng.randint(4, 30)
    total = traditional + tech + rng.randint(10, 80)
    ind = {
        "internet_tech_enterprises": tech,
        "traditional_enterprises": traditional,
        "traditional_enterprises_integrated": traditional * 7 // 20 + rng.randint(1, traditional // 4),
        "enterprises": total,
        "enterprises_with_it_department": total * 7 // 20 + rng.randint(1, total // 5),
        "innovation_platforms": rng.randint(1, 6),
        "rd_collaborations": rng.randint(3, 15),
    }
    if profile == "few_enterprises":  # only 2 internet-tech enterprises
        ind.update(internet_tech_enterprises=2)
    if profile == "low_rd":
        ind.update(enterprises=100, enterprises_with_it_department=19)
    return ind


def indicators_for(rng: random.Random, app: Town, profile: str) -> dict:
    ind = common_indicators(rng, app.track, app.region, profile)
    track_part = industrial_indicators if app.track == IND else application_indicators
    ind.update(track_part(rng, profile))
    return ind


# =============================================================================================
# The criteria (DOMAIN.md): which clauses pass, fail or warn

LIVELIHOOD = {"livelihood", "medical", "health", "elderly_care", "education", "culture",
              "social_security", "community"}


def assess(track: str, region: str, ind: dict) -> dict[str, str]:
    """clause id -> pass | fail | warning, read as DOMAIN.md says."""
    def share(part: str, whole: str, percent: int) -> bool:
        return ind[whole] > 0 and Fraction(ind[part], ind[whole]) * 100 >= percent

    def num(v: Any) -> Fraction:
        return Fraction(str(v)) if isinstance(v, float) else Fraction(v)

    p = "1" if track == IND else "2"
    planned_needed, core_needed = AREA_NEEDED[(track, region)]
    fund = {k: num(v) for k, v in ind["funding_ratio"].items()}
    fields = {f["field"] for f in ind["application_projects"]}
    out = {
        f"{p}(1)": ind["leadership_mechanism"] and ind["management_body"]
        and ind["operations_team"] in ("established", "forming"),
        f"{p}(6)": ind["plan_status"] in ("issued", "drafting") and ind["support_policies"]
        and fund["province"] > 0 and fund["city"] >= fund["province"]
        and fund["district"] >= fund["province"],
        f"{p}(7)": ind["service_platforms"] >= 3 and ind["fibre_mbps"] >= 100
        and ind["lte_full_coverage"] and ind["public_wlan_full_coverage"],
    }
    if track == IND:
        out["1(3)"] = ind["backbone_enterprises_200m"] >= 3 or ind["internet_enterprises_30m"] >= 10
        out["1(4)"] = bool(fields)
        out["1(5)"] = (share("internet_enterprises_with_rd", "internet_enterprises", 20)
                       and ind["innovation_platforms"] >= 3 and ind["rd_collaborations"] >= 10)
    else:
        out["2(3)"] = (ind["internet_tech_enterprises"] >= 3
                       and share("traditional_enterprises_integrated", "traditional_enterprises", 30))
        out["2(4)"] = bool(fields & LIVELIHOOD)
        out["2(5)"] = (share("enterprises_with_it_department", "enterprises", 30)
                       and ind["innovation_platforms"] >= 1 and ind["rd_collaborations"] >= 3)
    result = {clause: ("pass" if ok else "fail") for clause, ok in out.items()}
    if not ind["zone_defined"]:
        result[f"{p}(2)"] = "fail"
    elif num(ind["planned_area_mu"]) >= planned_needed and num(ind["core_area_mu"]) >= core_needed:
        result[f"{p}(2)"] = "pass"
    else:
        result[f"{p}(2)"] = "warning"
    return dict(sorted(result.items()))


# =============================================================================================
# Time

def day(md: str, hm: str = "00:00") -> datetime:
    """2017-MM-DD hh:mm in Guangdong time."""
    return datetime.fromisoformat(f"2017-{md}T{hm}:00+08:00")


STAGES: dict[str, tuple[datetime, datetime]] = {
    "submit": (day("02-13"), day("03-03", "17:59")),
    "submit_early": (day("02-13"), day("02-17", "17:59")),
    "return": (day("02-20"), day("03-03", "17:59")),
    "resubmit": (day("02-27"), day("03-08", "17:59")),
    "verify": (day("03-01"), day("03-12", "17:59")),
    "withdraw_early": (day("02-20"), day("03-10", "17:59")),
    "recommend": (day("03-13"), day("03-20", "17:59")),
    "materials": (day("03-21"), day("03-26", "17:59")),
    "materials2": (day("03-24"), day("03-29", "17:59")),
    "evaluate": (day("03-27"), day("03-29", "17:59")),
    "approve_try": (day("03-28"), day("03-29", "17:59")),
    "reevaluate": (day("03-29"), day("03-30", "12:00")),
    "approve": (day("03-30"), day("03-30", "17:59")),
    "decide": (day("03-29"), day("03-30", "17:59")),
    "late_evaluate": (day("04-05"), day("04-12", "17:59")),
    "late_approve": (day("04-13"), day("04-21", "17:59")),
    "late_misc": (day("04-03"), day("04-10", "17:59")),
}
GAP = timedelta(hours=2)  # between two events of one application: arrival jitter never reorders


def pick(rng: random.Random, after: datetime | None, lo: datetime, hi: datetime) -> datetime:
    """A business time in office hours within [lo, hi], at least GAP after ``after``."""
    start = lo if after is None else max(lo, after + GAP)
    jitter = timedelta(minutes=rng.randint(5, 50), seconds=rng.randint(0, 59))
    if start >= hi:
        return start + jitter
    span = (hi.date() - start.date()).days
    for _ in range(30):
        moment = datetime.combine(start.date() + timedelta(days=rng.randint(0, span)),
                                  time(8, 45), TZ)
        moment += timedelta(minutes=rng.randint(0, 540), seconds=rng.randint(0, 59))
        if start <= moment <= hi:
            return moment
    return start + jitter


# =============================================================================================
# Steps: one line of the batch each

@dataclass
class Step:
    seq: int
    arrive: datetime  # record order: lines are sorted by this
    principal: str | None
    expect: str  # "ok", "duplicate" or an error code
    label: str
    env: dict | None = None
    system: str | None = None  # the upstream system whose message_id counter it uses
    render: Callable[[dict], str] | None = None  # raw text made from env
    derive: tuple[Step, Callable[[dict], dict]] | None = None  # a copy of an earlier message
    control: dict | None = None

    def line(self) -> dict:
        if self.control is not None:
            return self.control
        if self.render is not None:
            return {"principal": self.principal, "raw": self.render(self.env)}
        return {"principal": self.principal, "envelope": self.env}


class Batch:
    """The lines being built, the applications, and the upstream systems' message counters."""

    def __init__(self, rng: random.Random, principals: dict[str, dict]) -> None:
        self.rng = rng
        self.principals = principals
        self.steps: list[Step] = []
        self.apps: dict[str, Town] = {}
        self.ranks: Counter = Counter()
        self._counters: dict[str, int] = {}

    def add(self, principal: str | None, env: dict | None, arrive: datetime, expect: str = "ok",
            label: str = "", **kw: Any) -> Step:
        step = Step(len(self.steps), arrive, principal, expect, label, env, **kw)
        if step.system is None and env is not None:
            step.system = self.system_of(principal, env.get("actor", {}))
        self.steps.append(step)
        return step

    def derive(self, source: Step, principal: str | None, arrive: datetime, expect: str,
               label: str, change: Callable[[dict], dict] = lambda env: env) -> Step:
        """A later copy of ``source``'s message (same message_id), changed by ``change``."""
        return self.add(principal, None, arrive, expect, label, derive=(source, change))

    def system_of(self, principal: str | None, actor: dict) -> str:
        p = self.principals.get(principal or "")
        role, city = (p["role"], p.get("city")) if p else (actor.get("role"), actor.get("city"))
        if role == PROVINCE:
            return "gd-prov-sys"
        if role in (APPLICANT, CITY) and city in CITIES:
            prefix = CITIES[city][0].lower()
            if role == CITY:
                return f"{prefix}-city-sys"
            return f"{prefix}-park-sys" if (principal or "").endswith("-2") else f"{prefix}-app-sys"
        return f"{role or 'unknown'}-console"

    def next_id(self, system: str) -> str:
        if system not in self._counters:
            self._counters[system] = self.rng.randint(100, 700)
        self._counters[system] += self.rng.randint(1, 9)
        return f"{system}-{self._counters[system]:06d}"

    def next_rank(self, city: str) -> int:
        self.ranks[city] += 1
        return self.ranks[city]

    def finalize(self) -> list[Step]:
        """The steps in arrival order, the control line placed, message ids assigned."""
        self.add(None, None, CHECK_AS_OF, "ok", "the deadline check runs here", control={
            "control": "deadline_check", "call_id": CALL_ID, "as_of": CHECK_AS_OF.isoformat()})
        self.steps[-1].seq = -1  # a line arriving at exactly the check time comes after it
        ordered = sorted(self.steps, key=lambda s: (s.arrive, s.seq))
        done: set[int] = set()
        for step in ordered:
            if step.derive is not None:
                source, change = step.derive
                assert id(source) in done, f"{step.label}: copied before its source arrived"
                step.env = change(copy.deepcopy(source.env))
            elif step.env is not None and step.env.get("message_id") == AUTO:
                step.env["message_id"] = self.next_id(step.system)
            done.add(id(step))
        return ordered


def envelope(type_: str, ref: str, when: datetime | str, actor: dict, payload: dict,
             call_id: str = CALL_ID) -> dict:
    return {
        "message_id": AUTO,
        "type": type_,
        "occurred_at": when if isinstance(when, str) else when.isoformat(),
        "application_ref": ref,
        "call_id": call_id,
        "actor": actor,
        "payload": payload,
    }


def city_organisation(principals: dict[str, dict], city: str) -> str:
    return principals[f"{city}-city"]["organisation"]


def applicant_actor(app: Town) -> dict:
    slug = app.town_en.split()[0].lower().replace("'", "")
    return {"role": APPLICANT, "id": f"{CITIES[app.city][0].lower()}-{slug}-clerk",
            "organisation": app.body_name, "city": app.city}


def city_actor(b: Batch, city: str) -> dict:
    officer = OFFICERS[sum(map(ord, city)) % len(OFFICERS)]
    return {"role": CITY, "id": f"{CITIES[city][0].lower()}-jxj-{officer}",
            "organisation": city_organisation(b.principals, city), "city": city}


def province_actor() -> dict:
    return {"role": PROVINCE, "id": "gd-jxw-xxhc-07", "organisation": PROVINCE_ORG}


# =============================================================================================
# Payload builders

PANEL = ["Chen Jianhua", "Huang Li", "Zhang Wei", "Liang Yuqing", "Lin Zhiqiang",
         "He Xiaomei", "Wu Guoqiang", "Zheng Hong"]
WAIVER_REASONS = [
    "The zone is bounded by river and hills; the guide lets areas be adjusted as appropriate "
    "(可酌情增减) and the enterprises already on site carry the plan.",
    "Land-use quota for the extension is approved for 2018; the panel accepts the current "
    "zone (可酌情增减).",
    "A compact zone with high plot ratio; output per mu is well above the provincial average.",
]


def attestation() -> dict:
    return {"truthful": True, "lawful": True, "feasible": True}


def decision_ref(when: datetime) -> str:
    # One decision letter a day; the numbers grow through the year.
    return f"粤经信函〔2017〕{150 + 4 * when.timetuple().tm_yday}号"


def findings_text(app: Town, outcomes: dict[str, str], waived: set[str]) -> str:
    failed = [c for c, o in outcomes.items() if o == "fail"]
    warned = [c for c, o in outcomes.items() if o == "warning"]
    parts = []
    if failed:
        parts.append(f"clause {', '.join(failed)} not met")
    for clause in warned:
        note = "waived" if clause in waived else "not waived"
        parts.append(f"clause {clause}: area below the guide's figure ({note})")
    if not parts:
        parts.append("all seven clauses met")
    return f"{app.town_en}: " + "; ".join(parts) + "."


def score_for(rng: random.Random, outcomes: dict[str, str]) -> float:
    if "fail" in outcomes.values():
        return round(rng.uniform(48, 64), 1)
    if "warning" in outcomes.values():
        return round(rng.uniform(72, 84), 1)
    return round(rng.uniform(80, 94), 1)


# =============================================================================================
# One application's flow

class Flow:
    """Adds an application's events to the batch, each after the last in business time."""

    def __init__(self, b: Batch, app: Town) -> None:
        self.b, self.app, self.t = b, app, None

    def _send(self, type_: str, role: str, payload: dict, stage: str | None,
              at: datetime | None, arrive: datetime | None, expect: str, label: str,
              name: str | None) -> Step:
        if at is None:
            at = pick(self.b.rng, self.t, *STAGES[stage])
        self.t = max(self.t or at, at)
        actor, principal = {
            APPLICANT: (applicant_actor(self.app), self.app.owner),
            CITY: (city_actor(self.b, self.app.city), f"{self.app.city}-city"),
            PROVINCE: (province_actor(), "province"),
        }[role]
        env = envelope(type_, self.app.ref, at, actor, payload)
        if arrive is None:
            arrive = at + timedelta(minutes=self.b.rng.randint(1, 40),
                                    seconds=self.b.rng.randint(0, 59))
        step = self.b.add(principal, env, arrive, expect, label or f"{self.app.ref} {type_}")
        self.app.steps[name or type_.split(".")[-1]] = step
        return step

    # --- applicant
    def submit(self, stage="submit", at=None, arrive=None, expect="ok", label="") -> Step:
        a = self.app
        payload = {"town_name": a.town_name, "track": a.track, "city": a.city,
                   "applicant": {"name": a.body_name, "kind": a.kind},
                   "indicators": copy.deepcopy(a.indicators), "attestation": attestation()}
        return self._send("application.submitted", APPLICANT, payload, stage, at, arrive,
                          expect, label, "submit")

    def resubmit(self, indicators: dict, stage="resubmit", expect="ok", label="",
                 name="resubmit") -> Step:
        payload = {"indicators": copy.deepcopy(indicators), "attestation": attestation()}
        return self._send("application.resubmitted", APPLICANT, payload, stage, None, None,
                          expect, label, name)

    def withdraw(self, reason: str, stage: str, at=None, arrive=None, expect="ok",
                 label="") -> Step:
        return self._send("application.withdrawn", APPLICANT, {"reason": reason}, stage, at,
                          arrive, expect, label, "withdraw")

    # --- city
    def verify(self, stage="verify", at=None, arrive=None, expect="ok", label="",
               name="verify") -> Step:
        notes = self.b.rng.choice(["Checked on site; figures match the statistics bureau.",
                                   "Documents complete; zone map verified.",
                                   "Verified with the district economic bureau."])
        payload = {"attestation": {"truthful": True, "complete": True}, "notes": notes}
        return self._send("application.city_verified", CITY, payload, stage, at, arrive,
                          expect, label, name)

    def recommend(self, stage="recommend", at=None, arrive=None, expect="ok",
                  label="") -> Step:
        rank = self.b.next_rank(self.app.city)
        payload = {"rank": rank, "notes": f"Recommended as choice {rank} of the city."}
        return self._send("application.recommended", CITY, payload, stage, at, arrive, expect,
                          label, "recommend")

    def return_(self, reason: str, stage="return") -> Step:
        return self._send("application.returned", CITY, {"reason": reason}, stage, None, None,
                          "ok", "", "return")

    def reject_by_city(self, reason: str, stage: str) -> Step:
        return self._send("application.rejected", CITY, {"reason": reason}, stage, None, None,
                          "ok", "", "reject")

    # --- province
    def materials(self, paper: int, bound: bool, electronic: int, labelled: bool,
                  stage="materials", at=None, arrive=None, expect="ok", label="",
                  name="materials") -> Step:
        payload = {"paper_copies": paper, "a4_bound": bound, "electronic_copies": electronic,
                   "electronic_labelled": labelled}
        return self._send("materials.received", PROVINCE, payload, stage, at, arrive, expect,
                          label, name)

    def complete_materials(self, split: str | None = None) -> None:
        """Two A4 bound paper copies and one labelled electronic copy, in one or two receipts."""
        if split == "1+1":
            self.materials(1, True, 0, False, name="materials")
            self.materials(1, True, 1, True, stage="materials2", name="materials2")
        elif split == "2+e":
            self.materials(2, True, 0, False, name="materials")
            self.materials(0, False, 1, True, stage="materials2", name="materials2")
        elif split == "unlabelled":  # the first electronic copy lacked its label
            self.materials(2, True, 1, False, name="materials")
            self.materials(0, False, 1, True, stage="materials2", name="materials2")
        else:
            self.materials(2, True, 1, True)

    def evaluate(self, waive: bool = True, waivers: list | None = None, stage="evaluate",
                 at=None, arrive=None, expect="ok", label="", name="evaluate") -> Step:
        a = self.app
        outcomes = assess(a.track, a.region, a.indicators)
        if waivers is None:
            warned = [c for c, o in outcomes.items() if o == "warning"] if waive else []
            waivers = [{"criterion": c, "reason": self.b.rng.choice(WAIVER_REASONS)}
                       for c in warned]
        waived = {w["criterion"] for w in waivers}
        payload = {"score": score_for(self.b.rng, outcomes),
                   "panel": sorted(self.b.rng.sample(PANEL, 3)),
                   "findings": findings_text(a, outcomes, waived), "waivers": waivers}
        return self._send("application.evaluated", PROVINCE, payload, stage, at, arrive,
                          expect, label, name)

    def approve(self, stage="approve", at=None, arrive=None, expect="ok", label="",
                name="approve") -> Step:
        if at is None:
            at = pick(self.b.rng, self.t, *STAGES[stage])
        return self._send("application.approved", PROVINCE, {"decision_ref": decision_ref(at)},
                          None, at, arrive, expect, label, name)

    def reject_by_province(self, reason: str, stage="decide") -> Step:
        return self._send("application.rejected", PROVINCE, {"reason": reason}, stage, None,
                          None, "ok", "", "reject")

    def to_recommended(self, split: str | None = "complete") -> None:
        self.submit()
        self.verify()
        self.recommend()
        if split is not None:
            self.complete_materials(None if split == "complete" else split)


# =============================================================================================
# Life-cycle paths: one function each

RETURN_REASONS = {
    "no_zone": "The zone boundary is not defined: attach the approved zone map (2(2)).",
    "no_team": "No operations team named: the guide asks for one established or being formed.",
    "no_plan": "The city's overall plan is not cited: state whether it is issued or drafting.",
}


def path_approved(b: Batch, app: Town) -> None:
    """submitted → city_verified → recommended → materials → evaluated → approved."""
    f = Flow(b, app)
    f.to_recommended(app.opts.get("split", "complete"))
    f.evaluate(stage="late_evaluate" if app.opts.get("eval_late") else "evaluate")
    late = app.opts.get("approve_late") or app.opts.get("eval_late")
    f.approve(stage="late_approve" if late else "approve")


def path_returned_then_approved(b: Batch, app: Town) -> None:
    """returned (from submitted or city_verified) → resubmitted → ... → approved."""
    good = app.indicators
    app.indicators = indicators_for(b.rng, app, app.opts["first"])
    f = Flow(b, app)
    f.submit(stage="submit_early")
    if app.opts.get("from_verified"):
        f.verify(stage="return", name="verify_first")
    f.return_(RETURN_REASONS[app.opts["first"]])
    app.indicators = good
    f.resubmit(good)
    f.verify()
    f.recommend()
    f.complete_materials()
    f.evaluate()
    f.approve()


def path_reevaluated(b: Batch, app: Town) -> None:
    """evaluated without waiving its warning → (approval refused) → re-evaluated → approved."""
    f = Flow(b, app)
    f.to_recommended()
    f.evaluate(waive=False, name="evaluate_first")
    if app.opts.get("approve_attempt"):
        f.approve(stage="approve_try", expect="precondition_failed",
                  label=f"{app.ref} approval with an unwaived warning", name="approve_try")
    if app.opts.get("late"):
        f.evaluate(stage="late_evaluate", label=f"{app.ref} re-evaluation after the check")
        f.approve(stage="late_approve")
    else:
        f.evaluate(stage="reevaluate", label=f"{app.ref} re-evaluation with waivers")
        f.approve()


def path_rejected_by_city(b: Batch, app: Town) -> None:
    """rejected by the city from submitted, returned or city_verified."""
    f = Flow(b, app)
    f.submit()
    at = app.opts["at"]
    if at == "returned":
        f.return_("The applicant body is not the town government named in the zone plan.")
        f.reject_by_city("No corrected application within the city's ten-day period.",
                         stage="verify")
    elif at == "city_verified":
        f.verify()
        f.reject_by_city("On review the zone overlaps a provincial ecological red line.",
                         stage="recommend")
    else:
        f.reject_by_city("The town is already a provincial e-commerce demonstration base "
                         "in this programme's first batch.", stage="verify")


def path_rejected_by_province(b: Batch, app: Town) -> None:
    """rejected by the province after evaluation (a failing clause) or from recommended."""
    f = Flow(b, app)
    f.to_recommended()
    if app.opts.get("after") == "recommended":
        f.reject_by_province("The zone duplicates one named in the 2016 batch; the materials "
                             "do not show a separate area.")
        return
    f.evaluate()
    failing = [c for c, o in assess(app.track, app.region, app.indicators).items() if o == "fail"]
    if app.opts.get("approve_attempt"):
        f.approve(stage="decide", expect="precondition_failed",
                  label=f"{app.ref} approval with failing clause {', '.join(failing)}",
                  name="approve_try")
    if app.opts.get("late"):
        f._send("application.rejected", PROVINCE,
                {"reason": f"Hard requirement not met: clause {', '.join(failing)}."},
                "late_approve", None, None, "ok", f"{app.ref} rejected after the check", "reject")
    else:
        f.reject_by_province(f"Hard requirement not met: clause {', '.join(failing)}.")


def path_withdrawn(b: Batch, app: Town) -> None:
    """withdrawn by its applicant from submitted, returned, city_verified, recommended,
    evaluated, or after the check."""
    f = Flow(b, app)
    at = app.opts["at"]
    reason = "The town will apply with a merged zone in the next batch."
    if at == "submitted":
        f.submit()
        f.withdraw(reason, stage="withdraw_early")
    elif at == "returned":
        f.submit()
        f.return_("Funding commitment of the district is not signed.")
        f.withdraw("The district cannot commit its share of the funding this year.",
                   stage="verify")
    elif at == "city_verified":
        f.submit()
        f.verify()
        f.withdraw(reason, stage="recommend")
    elif at == "recommended":
        f.to_recommended(split=None)
        f.withdraw(reason, stage="materials")
    elif at == "evaluated":
        f.to_recommended()
        f.evaluate()
        f.withdraw("The town government was reorganised; the application is withdrawn.",
                   stage="reevaluate")
    else:  # after the check: on time, then withdrawn
        f.to_recommended()
        f.withdraw("The park is being merged into the Qingyuan high-tech zone.",
                   stage="late_misc", label=f"{app.ref} withdrawn after the check")


def path_open_recommended(b: Batch, app: Town) -> None:
    """recommended with complete materials; never evaluated: open at the end, on time."""
    Flow(b, app).to_recommended()


def path_open_evaluated(b: Batch, app: Town) -> None:
    """evaluated, never approved (its warning is not waived): open at the end, on time."""
    f = Flow(b, app)
    f.to_recommended()
    f.evaluate(waive=False)
    if app.opts.get("approve_attempt"):
        f.approve(stage="decide", expect="precondition_failed",
                  label=f"{app.ref} approval with an unwaived warning", name="approve_try")


def path_lapses(b: Batch, app: Town) -> None:
    """Short of the condition at the cutoff: lapses at the check."""
    f = Flow(b, app)
    at = app.opts["at"]
    f.submit()
    if at == "returned":
        f.return_("The R&D cooperation agreements are not attached.")
    if at in ("city_verified", "recommended"):
        f.verify()
    if at == "recommended":
        f.recommend()
        materials = app.opts["materials"]
        if materials == "unbound":  # two paper copies, but not A4 bound: they do not count
            f.materials(2, False, 1, True)
        elif materials == "late":  # complete, but dated after the cutoff
            f.materials(2, True, 1, True, at=day("03-31", "10:20"),
                        label=f"{app.ref} materials received 2017-03-31, after the cutoff")


def path_reinstated_by_receipt(b: Batch, app: Town) -> None:
    """Recommended with one paper copy by the cutoff: an evaluation is refused, the check
    lapses it, a receipt dated 03-29 arriving after the check reinstates it, then it is
    evaluated and approved."""
    f = Flow(b, app)
    f.to_recommended(split=None)
    f.materials(1, True, 1, True, at=day("03-24", "10:05"))
    f.evaluate(at=day("03-28", "15:30"), expect="precondition_failed",
               label=f"{app.ref} evaluation before the materials are complete",
               name="evaluate_early")
    f.materials(1, True, 0, False, at=day("03-29", "16:40"), arrive=day("04-01", "09:12"),
                label=f"{app.ref} timely receipt (2017-03-29) arriving after the check: "
                      "reinstated", name="materials_late_evidence")
    f.t = day("04-01", "09:12")
    f.evaluate(stage="late_evaluate")
    f.approve(stage="late_approve")


def path_reinstated_by_earlier_receipt(b: Batch, app: Town) -> None:
    """Materials dated 03-31 (after the cutoff) lapse it; an earlier receipt dated 03-30,
    entered late, reinstates it."""
    f = Flow(b, app)
    f.to_recommended(split=None)
    f.materials(2, True, 1, True, at=day("03-31", "09:40"),
                label=f"{app.ref} materials received 2017-03-31, after the cutoff")
    f.materials(2, True, 1, True, at=day("03-30", "16:55"), arrive=day("04-01", "10:03"),
                label=f"{app.ref} timely receipt (2017-03-30) arriving after the check: "
                      "reinstated", name="materials_late_evidence")


def path_reinstated_by_recommendation(b: Batch, app: Town) -> None:
    """Verified but not recommended by the check: lapses; the late-arriving recommendation
    (03-28) and materials (03-29) reinstate it. A second verification is refused."""
    f = Flow(b, app)
    f.submit()
    f.verify(at=day("03-06", "11:20"))
    f.verify(at=day("03-20", "10:00"), arrive=day("04-02", "09:30"), expect="invalid_transition",
             label=f"{app.ref} a second city_verified as late evidence", name="verify_again")
    f.recommend(at=day("03-28", "15:10"), arrive=day("04-02", "09:45"),
                label=f"{app.ref} timely recommendation (2017-03-28) after the check: still "
                      "lapsed, materials missing")
    f.materials(2, True, 1, True, at=day("03-29", "11:00"), arrive=day("04-03", "14:20"),
                label=f"{app.ref} timely materials (2017-03-29) after the check: reinstated",
                name="materials_late_evidence")


def path_recommended_before_verified(b: Batch, app: Town) -> None:
    """The recommendation arrives before the verification it follows: refused; the city's
    system re-sends it (same message_id) after the verification arrives."""
    f = Flow(b, app)
    f.submit()
    verified_at = pick(b.rng, f.t, *STAGES["verify"])
    recommended_at = pick(b.rng, verified_at, *STAGES["recommend"])
    late_arrival = recommended_at + timedelta(hours=20)
    f.verify(at=verified_at, arrive=late_arrival)
    early = f.recommend(at=recommended_at, arrive=recommended_at + timedelta(minutes=4),
                        expect="invalid_transition",
                        label=f"{app.ref} recommended arriving before its city_verified")
    b.derive(early, f"{app.city}-city", late_arrival + timedelta(minutes=30), "ok",
             f"{app.ref} the same recommendation re-sent after city_verified arrived")
    f.t = late_arrival + timedelta(hours=1)  # materials come after the recommendation lands
    f.complete_materials()
    f.evaluate()
    f.approve()


def path_approved_before_evaluated(b: Batch, app: Town) -> None:
    """The approval arrives before the evaluation: refused; entered again after it."""
    f = Flow(b, app)
    f.to_recommended()
    evaluated = f.evaluate(at=day("03-29", "10:30"), arrive=day("03-30", "15:40"))
    f.approve(at=day("03-30", "11:00"), arrive=day("03-30", "11:04"),
              expect="invalid_transition",
              label=f"{app.ref} approved arriving before its evaluation", name="approve_early")
    f.approve(at=day("03-30", "11:00"), arrive=evaluated.arrive + timedelta(minutes=25),
              label=f"{app.ref} approval entered again (new message_id)")


def path_submitted_after_check(b: Batch, app: Town) -> None:
    """A timely submission whose message first arrives after the check: lapses at once.
    With ``reinstate``, its timely verification, recommendation and materials follow."""
    f = Flow(b, app)
    if not app.opts.get("reinstate"):
        f.submit(at=day("03-24", "10:15"), arrive=day("04-03", "09:05"),
                 label=f"{app.ref} timely submission (2017-03-24) first arriving after the "
                       "check: lapses at once")
        return
    f.submit(at=day("03-22", "09:50"), arrive=day("04-03", "09:20"),
             label=f"{app.ref} timely submission (2017-03-22) first arriving after the check: "
                   "lapses at once")
    f.verify(at=day("03-25", "14:00"), arrive=day("04-03", "11:00"),
             label=f"{app.ref} timely verification (2017-03-25) after the check: still lapsed")
    f.recommend(at=day("03-27", "10:30"), arrive=day("04-03", "11:30"),
                label=f"{app.ref} timely recommendation (2017-03-27) after the check: "
                      "still lapsed")
    f.materials(2, True, 1, True, at=day("03-29", "15:00"), arrive=day("04-04", "10:00"),
                label=f"{app.ref} timely materials (2017-03-29) after the check: reinstated",
                name="materials_late_evidence")
    f.t = day("04-04", "10:00")
    f.evaluate(stage="late_evaluate")
    f.approve(stage="late_approve")


PATHS: dict[str, Callable[[Batch, Town], None]] = {
    "approved": path_approved,
    "returned_then_approved": path_returned_then_approved,
    "reevaluated": path_reevaluated,
    "rejected_by_city": path_rejected_by_city,
    "rejected_by_province": path_rejected_by_province,
    "withdrawn": path_withdrawn,
    "open_recommended": path_open_recommended,
    "open_evaluated": path_open_evaluated,
    "lapses": path_lapses,
    "reinstated_by_receipt": path_reinstated_by_receipt,
    "reinstated_by_earlier_receipt": path_reinstated_by_earlier_receipt,
    "reinstated_by_recommendation": path_reinstated_by_recommendation,
    "recommended_before_verified": path_recommended_before_verified,
    "approved_before_evaluated": path_approved_before_evaluated,
    "submitted_after_check": path_submitted_after_check,
}


# =============================================================================================
# Fault families: one function each

def _before(step: Step, minutes: int = 30) -> datetime:
    return step.arrive - timedelta(minutes=minutes)


def _after(step: Step, **delta: int) -> datetime:
    return step.arrive + timedelta(**delta)


def _occurred(step: Step) -> datetime:
    return datetime.fromisoformat(step.env["occurred_at"])


def _variant(b: Batch, step: Step, arrive: datetime, principal: str | None, expect: str,
             label: str, change: Callable[[dict], None], system: str | None = None) -> Step:
    """A fresh message (new message_id) made from ``step``'s envelope, then changed."""
    env = copy.deepcopy(step.env)
    env["message_id"] = AUTO
    change(env)
    return b.add(principal, env, arrive, expect, label, system=system or step.system)


def faults_duplicates(b: Batch) -> None:
    """The same message re-sent: exact, with its keys in another order, and after the check."""
    submit = b.apps["GZ-2017-001"].steps["submit"]
    b.derive(submit, "guangzhou-applicant", _after(submit, hours=19), "duplicate",
             "GZ-2017-001 submission re-sent unchanged")

    def reorder(env: dict) -> dict:
        def rev(value):
            if isinstance(value, dict):
                return {k: rev(value[k]) for k in reversed(list(value))}
            if isinstance(value, list):
                return [rev(v) for v in value]
            return value
        return rev(env)

    evaluated = b.apps["SD-2017-002"].steps["evaluate"]
    b.derive(evaluated, "province", _after(evaluated, hours=2), "duplicate",
             "SD-2017-002 evaluation re-sent with its keys in reverse order", reorder)
    verified = b.apps["ST-2017-001"].steps["verify"]
    b.derive(verified, "shantou-city", _after(verified, minutes=3), "duplicate",
             "ST-2017-001 verification re-sent with its keys in reverse order", reorder)
    materials = b.apps["FS-2017-002"].steps["materials"]
    b.derive(materials, "province", day("04-02", "08:15"), "duplicate",
             "FS-2017-002 materials receipt re-sent after the check")


def faults_conflicts(b: Batch) -> None:
    """An applied message_id arrives again with another body: idempotency_conflict."""
    recommended = b.apps["JY-2017-001"].steps["recommend"]

    def other_rank(env: dict) -> dict:
        env["payload"]["rank"] += 1
        return env

    b.derive(recommended, "jieyang-city", _after(recommended, hours=5), "idempotency_conflict",
             "JY-2017-001 recommendation re-sent with the same id and another rank", other_rank)
    materials = b.apps["CZ-2017-001"].steps["materials"]

    def one_copy(env: dict) -> dict:
        env["payload"]["paper_copies"] = 1
        return env

    b.derive(materials, "province", _after(materials, hours=3), "idempotency_conflict",
             "CZ-2017-001 materials receipt re-sent with the same id and 1 paper copy", one_copy)
    submit = b.apps["ST-2017-001"].steps["submit"]

    def renamed(env: dict) -> dict:
        env["payload"]["town_name"] = "Lianxia Town, Chenghai District (澄海区莲下镇)"
        return env

    b.derive(submit, "shantou-applicant", _after(submit, days=1), "idempotency_conflict",
             "ST-2017-001 submission re-sent with the same id and another town_name", renamed)


def faults_malformed(b: Batch) -> None:
    """Bytes that are not a JSON object: not JSON, a JSON array, truncated JSON."""
    verify = b.apps["DG-2017-002"].steps["verify"]
    b.add("dongguan-city", {}, _before(verify, 50), "malformed",
          "not JSON (a status line from Dongguan's system)",
          render=lambda env: "VERIFY DG-2017-002 OK 2017-03-06 checked by dg-jxj", system="-")
    materials = b.apps["HZ-2017-001"].steps["materials"]
    _variant(b, materials, _before(materials, 20), "province", "malformed",
             "a JSON array holding an envelope", lambda env: None).render = (
        lambda env: json.dumps([env], ensure_ascii=False))
    submit = b.apps["SZ-2017-001"].steps["submit"]
    _variant(b, submit, _before(submit, 15), "shenzhen-applicant", "malformed",
             "truncated JSON (the connection dropped)", lambda env: None).render = (
        lambda env: json.dumps(env, ensure_ascii=False)[:230])


def faults_schema(b: Batch) -> None:
    """Shape errors (schema_invalid); each is followed by the corrected message."""
    def drop_track(env):
        del env["payload"]["track"]

    s = b.apps["HZ-2017-001"].steps["submit"]
    _variant(b, s, _before(s), "huizhou-applicant", "schema_invalid",
             "HZ-2017-001 submission missing payload.track", drop_track)

    def drop_time(env):
        del env["occurred_at"]

    s = b.apps["ZQ-2017-001"].steps["verify"]
    _variant(b, s, _before(s), "zhaoqing-city", "schema_invalid",
             "ZQ-2017-001 verification missing occurred_at", drop_time)

    def copies_as_text(env):
        env["payload"]["paper_copies"] = "2"

    s = b.apps["CZ-2017-002"].steps["materials"]
    _variant(b, s, _before(s), "province", "schema_invalid",
             'CZ-2017-002 materials with paper_copies "2" (a string)', copies_as_text)

    def count_as_text(env):
        env["payload"]["indicators"]["internet_tech_enterprises"] = "12"

    s = b.apps["YF-2017-001"].steps["submit"]
    _variant(b, s, _before(s), "yunfu-applicant", "schema_invalid",
             'YF-2017-001 submission with internet_tech_enterprises "12"', count_as_text)

    def naive(env):
        env["occurred_at"] = env["occurred_at"][:19]

    s = b.apps["ST-2017-002"].steps["recommend"]
    _variant(b, s, _before(s), "shantou-city", "schema_invalid",
             "ST-2017-002 recommendation with a naive occurred_at (no offset)", naive)

    def not_complete(env):
        env["payload"]["attestation"]["complete"] = False

    s = b.apps["FS-2017-002"].steps["verify"]
    _variant(b, s, _before(s), "foshan-city", "schema_invalid",
             "FS-2017-002 verification attesting complete: false", not_complete)

    def not_lawful(env):
        env["payload"]["attestation"]["lawful"] = False

    s = b.apps["MM-2017-001"].steps["submit"]
    _variant(b, s, _before(s), "maoming-applicant", "schema_invalid",
             "MM-2017-001 submission attesting lawful: false", not_lawful)

    def clause_3_1(env):
        env["payload"]["waivers"] = [{"criterion": "3(1)", "reason": "typed in the wrong box"}]

    s = b.apps["SW-2017-001"].steps["evaluate"]
    _variant(b, s, _before(s), "province", "schema_invalid",
             "SW-2017-001 evaluation waiving clause 3(1), which does not exist", clause_3_1)

    def rank_zero(env):
        env["payload"]["rank"] = 0

    s = b.apps["HY-2017-003"].steps["recommend"]
    _variant(b, s, _before(s), "heyuan-city", "schema_invalid",
             "HY-2017-003 recommendation with rank 0", rank_zero)

    # A resubmission of an industrial application carrying the application track's fields:
    # the edge passes it (common fields present), the service refuses it for its own track.
    app = b.apps["MM-2017-002"]
    s = app.steps["resubmit"]

    def wrong_track(env):
        ind = {k: v for k, v in env["payload"]["indicators"].items()
               if k not in INDUSTRIAL_ONLY}
        ind.update(application_indicators(b.rng, "good"))
        env["payload"]["indicators"] = ind

    _variant(b, s, _before(s, 30), "maoming-applicant", "schema_invalid",
             "MM-2017-002 resubmission missing the industrial track's fields", wrong_track)


INDUSTRIAL_ONLY = ("backbone_enterprises_200m", "internet_enterprises_30m",
                   "internet_enterprises", "internet_enterprises_with_rd",
                   "innovation_platforms", "rd_collaborations")


def faults_unknown_type_and_call(b: Batch) -> None:
    """A type not in the table, and a call that does not exist."""
    def archived(env):
        env["type"] = "application.archived"
        env["payload"] = {"reason": "approved; file closed"}

    s = b.apps["GZ-2017-001"].steps["approve"]
    _variant(b, s, _after(s, hours=18), "province", "unknown_type",
             "GZ-2017-001 application.archived (no such type)", archived)
    s = b.apps["JM-2017-001"].steps["approve"]
    arch = _variant(b, s, day("04-06", "10:00"), "jiangmen-applicant", "unknown_type",
                    "JM-2017-001 application.archived from the applicant after the check",
                    archived)
    arch.env["actor"] = applicant_actor(b.apps["JM-2017-001"])
    arch.env["occurred_at"] = day("04-06", "09:55").isoformat()
    arch.system = "jm-app-sys"

    def next_year(env):
        env["call_id"] = OTHER_CALL_ID
        env["application_ref"] = "GZ-2018-001"

    s = b.apps["GZ-2017-002"].steps["submit"]
    _variant(b, s, _after(s, hours=3), "guangzhou-applicant", "unknown_call",
             f"GZ-2018-001 submitted to {OTHER_CALL_ID} (no such call)", next_year)

    def other_call(env):
        env["call_id"] = OTHER_CALL_ID

    s = b.apps["SD-2017-002"].steps["verify"]
    _variant(b, s, _after(s, minutes=40), "shunde-city", "unknown_call",
             f"SD-2017-002 verification sent to {OTHER_CALL_ID}", other_call)


def faults_unauthenticated(b: Batch) -> None:
    """No credentials, or a principal not in the configuration; never 'duplicate'."""
    s = b.apps["DG-2017-001"].steps["submit"]

    def shijie(env):
        env["application_ref"] = "DG-2017-006"
        env["payload"]["town_name"] = "Shijie Town (石碣镇)"
        env["payload"]["applicant"] = {"name": "Shijie Town People's Government (石碣镇人民政府)",
                                       "kind": "town_government"}
        env["actor"]["organisation"] = "Shijie Town People's Government (石碣镇人民政府)"
        env["actor"]["id"] = "dg-shijie-clerk"

    _variant(b, s, _after(s, hours=26), None, "unauthenticated",
             "DG-2017-006 submission without credentials (principal null)", shijie)
    verified = b.apps["GZ-2017-001"].steps["verify"]
    b.derive(verified, "ghost-system", _after(verified, hours=6), "unauthenticated",
             "GZ-2017-001's applied verification replayed by ghost-system (not a duplicate)")
    b.add(None, {}, day("03-14", "03:12"), "unauthenticated",
          "garbage bytes without credentials (unauthenticated wins over malformed)",
          render=lambda env: "\u0000\u0001PING", system="-")


def faults_forbidden(b: Batch) -> None:
    """Every form of forbidden: actor, role, jurisdiction, ownership, payload city."""
    verified = b.apps["GZ-2017-003"].steps["verify"]
    b.derive(verified, "foshan-city", _after(verified, hours=3), "forbidden",
             "foshan-city re-sends guangzhou-city's applied verification (actor city "
             "guangzhou): forbidden, not a duplicate")

    gz1 = b.apps["GZ-2017-001"]
    s = gz1.steps["verify"]

    def as_applicant(env):
        env["actor"] = applicant_actor(gz1)

    _variant(b, s, _before(s, 45), "guangzhou-applicant", "forbidden",
             "GZ-2017-001 city_verified sent by its applicant", as_applicant,
             system="gz-app-sys")

    sd2 = b.apps["SD-2017-002"]
    s = sd2.steps["verify"]

    def by_foshan(env):
        env["actor"] = city_actor(b, "foshan")

    _variant(b, s, _before(s, 60), "foshan-city", "forbidden",
             "foshan-city (actor city foshan) verifying Shunde's SD-2017-002", by_foshan,
             system="fs-city-sys")

    gz3 = b.apps["GZ-2017-003"]
    s = gz3.steps["recommend"]
    withdraw = envelope("application.withdrawn", gz3.ref, _occurred(s) + timedelta(hours=4),
                        {"role": APPLICANT, "id": "gz-park-clerk-02",
                         "organisation": "Guangzhou industrial park management committee",
                         "city": "guangzhou"},
                        {"reason": "withdrawn by the park committee"})
    b.add("guangzhou-applicant-2", withdraw, _after(s, hours=4, minutes=10), "forbidden",
          "guangzhou-applicant-2 withdrawing guangzhou-applicant's GZ-2017-003")

    s = b.apps["FS-2017-002"].steps["approve"]

    def as_operator(env):
        env["message_id"] = AUTO

    _variant(b, s, _before(s, 10), "operator", "forbidden",
             "the operator sending an approval as the province", as_operator,
             system="operator-console")

    fs1 = b.apps["FS-2017-001"]
    s = fs1.steps["submit"]

    def for_shunde(env):
        env["application_ref"] = "SD-2017-006"
        env["payload"]["city"] = "shunde"
        env["payload"]["town_name"] = "Leliu Subdistrict (勒流街道)"
        env["payload"]["applicant"] = {"name": "Foshan industrial park management committee",
                                       "kind": "industrial_park"}
        env["actor"] = {"role": APPLICANT, "id": "fs-park-clerk-01",
                        "organisation": "Foshan industrial park management committee",
                        "city": "foshan"}

    _variant(b, s, _after(s, hours=5), "foshan-applicant-2", "forbidden",
             "foshan-applicant-2 submitting SD-2017-006 with payload city shunde", for_shunde,
             system="fs-park-sys")


def faults_unknown_application(b: Batch) -> None:
    """Events for references never submitted."""
    s = b.apps["GZ-2017-001"].steps["verify"]

    def ghost_ref(env):
        env["application_ref"] = "GZ-2017-099"

    _variant(b, s, _after(s, hours=2), "guangzhou-city", "unknown_application",
             "GZ-2017-099 verified, never submitted", ghost_ref)
    s = b.apps["SD-2017-001"].steps["materials"]

    def ghost_materials(env):
        env["application_ref"] = "SD-2017-099"

    _variant(b, s, _after(s, hours=1), "province", "unknown_application",
             "SD-2017-099 materials received, never submitted", ghost_materials)


def faults_invalid_transition(b: Batch) -> None:
    """Events that do not fit the state (out-of-order ones are in their paths)."""
    gz6 = b.apps["GZ-2017-006"]
    s = gz6.steps["submit"]
    approve = envelope("application.approved", gz6.ref, _occurred(s) + timedelta(days=9),
                       province_actor(), {"decision_ref": "粤经信函〔2017〕188号"})
    b.add("province", approve, _after(s, days=9), "invalid_transition",
          "GZ-2017-006 approved while submitted")

    s = b.apps["SZ-2017-001"].steps["submit"]
    _variant(b, s, _after(s, days=4), "shenzhen-applicant", "invalid_transition",
             "SZ-2017-001 submitted a second time (new message_id)", lambda env: None)

    sz3 = b.apps["SZ-2017-003"]
    s = sz3.steps["recommend"]
    reject = envelope("application.rejected", sz3.ref, _occurred(s) + timedelta(days=2),
                      city_actor(b, "shenzhen"),
                      {"reason": "Second thoughts about the bonded-port zone."})
    b.add("shenzhen-city", reject, _after(s, days=2), "invalid_transition",
          "SZ-2017-003 rejected by the city after recommending it")


def faults_preconditions(b: Batch) -> None:
    """Waivers of a passing, a failing and another track's clause (the other preconditions,
    incomplete materials and unwaived or failing clauses, are in their paths)."""
    sd1 = b.apps["SD-2017-001"]
    s = sd1.steps["evaluate"]

    def waive_passing(env):
        env["payload"]["waivers"] = [{"criterion": "1(2)",
                                      "reason": "planned area exactly 300 mu"}]

    _variant(b, s, _before(s, 60), "province", "precondition_failed",
             "SD-2017-001 waiver of 1(2), which passes at exactly 300/150 mu", waive_passing)

    fs3 = b.apps["FS-2017-003"]
    s = fs3.steps["evaluate"]

    def waive_failing(env):
        env["payload"]["waivers"] = [{"criterion": "1(5)",
                                      "reason": "R&D share close to 20 %"}]

    _variant(b, s, _before(s, 60), "province", "precondition_failed",
             "FS-2017-003 waiver of failing clause 1(5) (19 of 100 with R&D)", waive_failing)

    sd3 = b.apps["SD-2017-003"]
    s = sd3.steps["evaluate"]

    def other_track(env):
        env["payload"]["waivers"] = [{"criterion": "2(2)", "reason": "core area 140 mu"}]

    _variant(b, s, _before(s, 40), "province", "precondition_failed",
             "SD-2017-003 waiver of 2(2), a clause of the other track", other_track)


def faults_deadline(b: Batch) -> None:
    """Submissions dated after the cutoff: deadline_passed, before and after the check."""
    for ref, city, en, zh, track, when, arrive in (
        ("QY-2017-004", "qingyuan", "Lianjiangkou Town", "连江口镇", APP,
         day("03-31", "10:15"), day("03-31", "10:18")),
        ("YF-2017-004", "yunfu", "Hekou Town", "河口镇", IND,
         day("04-02", "09:30"), day("04-02", "09:33")),
    ):
        app = Town(ref, city, en, zh, track, "good", "refused")
        app.indicators = indicators_for(b.rng, app, "good")
        f = Flow(b, app)
        f.submit(at=when, arrive=arrive, expect="deadline_passed",
                 label=f"{ref} submission dated {when.date()}, after the cutoff")


def faults_late_on_lapsed(b: Batch) -> None:
    """After the check: events on lapsed applications that cannot save them."""
    mz3 = b.apps["MZ-2017-003"]
    Flow(b, mz3).verify(at=day("04-01", "10:30"), arrive=day("04-01", "10:41"),
                        expect="invalid_transition",
                        label="MZ-2017-003 (lapsed) verified on 2017-04-01, after the cutoff",
                        name="verify_late")
    zj2 = b.apps["ZJ-2017-002"]
    Flow(b, zj2).materials(1, True, 0, False, at=day("04-02", "15:00"),
                           arrive=day("04-02", "15:06"), expect="invalid_transition",
                           label="ZJ-2017-002 (lapsed) materials dated 2017-04-02",
                           name="materials_after_lapse")
    jm3 = b.apps["JM-2017-003"]
    Flow(b, jm3).withdraw("No longer pursued.", stage="late_misc", expect="invalid_transition",
                          label="JM-2017-003 (lapsed) withdrawn after the check")
    sw2 = b.apps["SW-2017-002"]
    approve = envelope("application.approved", sw2.ref, day("04-18", "10:00"), province_actor(),
                       {"decision_ref": decision_ref(day("04-18"))})
    b.add("province", approve, day("04-18", "10:07"), "invalid_transition",
          "SW-2017-002 (lapsed) approved")


# =============================================================================================
# The expected answers: a small model of DOMAIN.md's rules

EVENT_TYPES = ("application.submitted", "application.resubmitted", "application.withdrawn",
               "application.returned", "application.city_verified", "application.recommended",
               "application.rejected", "materials.received", "application.evaluated",
               "application.approved")
OPEN = {"submitted", "returned", "city_verified", "recommended", "evaluated"}
ROWS = {  # (type, role): (allowed while, becomes; None = unchanged)
    ("application.submitted", APPLICANT): (set(), "submitted"),
    ("application.resubmitted", APPLICANT): ({"returned"}, "submitted"),
    ("application.withdrawn", APPLICANT): (OPEN, "withdrawn"),
    ("application.returned", CITY): ({"submitted", "city_verified"}, "returned"),
    ("application.city_verified", CITY): ({"submitted"}, "city_verified"),
    ("application.recommended", CITY): ({"city_verified"}, "recommended"),
    ("application.rejected", CITY): ({"submitted", "returned", "city_verified"}, "rejected"),
    ("application.rejected", PROVINCE): ({"recommended", "evaluated"}, "rejected"),
    ("materials.received", PROVINCE): ({"recommended"}, None),
    ("application.evaluated", PROVINCE): ({"recommended", "evaluated"}, "evaluated"),
    ("application.approved", PROVINCE): ({"evaluated"}, "approved"),
}
EVIDENCE = {"application.city_verified", "application.recommended", "materials.received"}
COMMON = ("leadership_mechanism", "management_body", "operations_team", "zone_defined",
          "planned_area_mu", "core_area_mu", "application_projects", "plan_status",
          "support_policies", "funding_ratio", "service_platforms", "fibre_mbps",
          "lte_full_coverage", "public_wlan_full_coverage")
TRACK_FIELDS = {IND: INDUSTRIAL_ONLY,
                APP: ("internet_tech_enterprises", "traditional_enterprises",
                      "traditional_enterprises_integrated", "enterprises",
                      "enterprises_with_it_department", "innovation_platforms",
                      "rd_collaborations")}
CLAUSES = {f"{p}({n})" for p in (1, 2) for n in range(1, 8)}


@dataclass
class Answer:
    code: str  # ok | duplicate | an error code
    ref: str = ""
    status: str = ""
    version: int = 0
    note: str = ""


@dataclass
class Model:
    ref: str
    owner: str
    city: str
    track: str
    region: str
    indicators: dict
    status: str = "submitted"
    underlying: str = ""  # the state evidence reached while lapsed
    version: int = 1
    recommended_at: datetime | None = None
    receipts: list = field(default_factory=list)  # (occurred_at, paper, electronic) counted
    outcomes: dict | None = None
    deadline: str = "pending"


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def _text(v) -> bool:
    return isinstance(v, str) and len(v) > 0


def _indicators_ok(ind: Any, required: tuple[str, ...]) -> bool:
    if not isinstance(ind, dict) or any(k not in ind for k in required):
        return False
    checks = {
        "operations_team": lambda v: v in ("established", "forming", "none"),
        "plan_status": lambda v: v in ("issued", "drafting", "none"),
        "planned_area_mu": _number, "core_area_mu": _number,
        "application_projects": lambda v: isinstance(v, list) and all(
            isinstance(p, dict) and _text(p.get("name")) and p.get("field") in
            LIVELIHOOD | {"manufacturing", "agriculture", "finance", "logistics", "commerce",
                          "transport", "government"} for p in v),
        "funding_ratio": lambda v: isinstance(v, dict) and all(
            _number(v.get(k)) for k in ("province", "city", "district")),
    }
    for name, value in ind.items():
        if name in checks:
            ok = checks[name](value)
        elif name in COMMON:
            ok = isinstance(value, bool) if "coverage" in name or name in (
                "leadership_mechanism", "management_body", "zone_defined",
                "support_policies") else _count(value)
        elif name in TRACK_FIELDS[IND] + TRACK_FIELDS[APP]:
            ok = _count(value)
        else:
            ok = True  # unknown fields are dropped
        if not ok:
            return False
    return True


def shape_problem(env: dict) -> str | None:
    """schema_invalid / unknown_type for the envelope and payload, in the contract's order."""
    def aware(v):
        try:
            return datetime.fromisoformat(v).tzinfo is not None
        except (TypeError, ValueError):
            return False

    actor = env.get("actor")
    ok = (isinstance(env.get("message_id"), str) and 1 <= len(env["message_id"]) <= 128
          and _text(env.get("type")) and aware(env.get("occurred_at"))
          and _text(env.get("application_ref")) and _text(env.get("call_id"))
          and isinstance(actor, dict) and actor.get("role") in (
              APPLICANT, CITY, PROVINCE, "auditor", "operator") and _text(actor.get("id"))
          and isinstance(env.get("payload"), dict))
    if ok and actor["role"] in (APPLICANT, CITY):
        ok = actor.get("city") in CITIES
    if not ok:
        return "schema_invalid"
    if env["type"] not in EVENT_TYPES:
        return "unknown_type"
    p, t = env["payload"], env["type"]
    if t == "application.submitted":
        ok = (_text(p.get("town_name")) and p.get("track") in (IND, APP)
              and p.get("city") in CITIES and isinstance(p.get("applicant"), dict)
              and _text(p["applicant"].get("name")) and p["applicant"].get("kind") in (
                  "county_government", "town_government", "industrial_park", "high_tech_zone",
                  "bonded_zone", "tourism_zone", "other")
              and _indicators_ok(p.get("indicators"), COMMON + TRACK_FIELDS.get(p.get("track"), ()))
              and p.get("attestation") == attestation())
    elif t == "application.resubmitted":
        ok = _indicators_ok(p.get("indicators"), COMMON) and p.get("attestation") == attestation()
    elif t in ("application.withdrawn", "application.returned", "application.rejected"):
        ok = _text(p.get("reason"))
    elif t == "application.city_verified":
        ok = p.get("attestation") == {"truthful": True, "complete": True}
    elif t == "application.recommended":
        ok = _count(p.get("rank")) and p["rank"] >= 1
    elif t == "materials.received":
        ok = (_count(p.get("paper_copies")) and isinstance(p.get("a4_bound"), bool)
              and _count(p.get("electronic_copies"))
              and isinstance(p.get("electronic_labelled"), bool))
    elif t == "application.evaluated":
        ok = (_number(p.get("score")) and p["score"] <= 100 and isinstance(p.get("panel"), list)
              and all(_text(n) for n in p["panel"]) and all(
                  isinstance(w, dict) and w.get("criterion") in CLAUSES and _text(w.get("reason"))
                  for w in p.get("waivers", [])))
    elif t == "application.approved":
        ok = _text(p.get("decision_ref"))
    return None if ok else "schema_invalid"


class Simulation:
    """Plays the batch through DOMAIN.md's rules to say what each line should get."""

    def __init__(self, principals: dict[str, dict]) -> None:
        self.principals = principals
        self.apps: dict[str, Model] = {}
        self.applied: dict[str, str] = {}  # message_id -> canonical body
        self.checked = False

    def play(self, line: dict) -> Answer:
        if "control" in line:
            return self.deadline_check()
        principal = self.principals.get(line.get("principal") or "")
        if principal is None:
            return Answer("unauthenticated")
        if "raw" in line:
            try:
                env = json.loads(line["raw"])
            except ValueError:
                return Answer("malformed")
        else:
            env = line["envelope"]
        if not isinstance(env, dict):
            return Answer("malformed")
        problem = shape_problem(env)
        if problem:
            return Answer(problem, env.get("application_ref", ""))
        answer = self.apply(line["principal"], principal, env)
        answer.ref = answer.ref or env["application_ref"]
        return answer

    def apply(self, name: str, principal: dict, env: dict) -> Answer:
        ref, type_, actor = env["application_ref"], env["type"], env["actor"]
        when = datetime.fromisoformat(env["occurred_at"])
        role = principal["role"]
        if env["call_id"] != CALL_ID:
            return Answer("unknown_call")
        if actor["role"] != role or (role in (APPLICANT, CITY)
                                     and actor.get("city") != principal.get("city")):
            return Answer("forbidden", note="may not act as this actor")
        if (type_, role) not in ROWS:
            return Answer("forbidden", note=f"a {role} never sends {type_}")
        body = json.dumps(env, sort_keys=True, ensure_ascii=False)
        if env["message_id"] in self.applied:
            if self.applied[env["message_id"]] != body:
                return Answer("idempotency_conflict")
            app = self.apps[ref]
            return Answer("duplicate", ref, app.status, app.version)
        if type_ == "application.submitted":
            answer = self.submit(name, principal, env, when)
        else:
            answer = self.change(name, principal, env, when)
        if answer.code == "ok":
            self.applied[env["message_id"]] = body
        return answer

    def submit(self, name: str, principal: dict, env: dict, when: datetime) -> Answer:
        p, ref = env["payload"], env["application_ref"]
        if p["city"] != principal.get("city"):
            return Answer("forbidden", note="payload city is not the applicant's")
        if when > CUTOFF:
            return Answer("deadline_passed")
        if ref in self.apps:
            return Answer("invalid_transition", note="already submitted")
        app = Model(ref, name, p["city"], p["track"], CITIES[p["city"]][1], p["indicators"])
        self.apps[ref] = app
        note = ""
        if self.checked:
            self.lapse_if_short(app)
            note = "lapsed at once"
        return Answer("ok", ref, app.status, app.version, note)

    def change(self, name: str, principal: dict, env: dict, when: datetime) -> Answer:
        ref, type_, p = env["application_ref"], env["type"], env["payload"]
        role = principal["role"]
        app = self.apps.get(ref)
        if app is None:
            return Answer("unknown_application")
        if role == CITY and app.city != principal["city"]:
            return Answer("forbidden", note="another city's application")
        if role == APPLICANT and app.owner != name:
            return Answer("forbidden", note="another applicant's application")
        if type_ == "application.resubmitted" and any(
                k not in p["indicators"] for k in COMMON + TRACK_FIELDS[app.track]):
            return Answer("schema_invalid", note="track fields missing")
        lapsed = app.status == "lapsed"
        state = app.underlying if lapsed else app.status
        if lapsed and (type_ not in EVIDENCE or when > CUTOFF):
            return Answer("invalid_transition", note="lapsed")
        allowed, becomes = ROWS[(type_, role)]
        if state not in allowed:
            return Answer("invalid_transition", note=f"while {state}")
        if type_ == "application.evaluated":
            if not self.complete(app, None):
                return Answer("precondition_failed", note="materials incomplete")
            outcomes = assess(app.track, app.region, app.indicators)
            for waiver in p.get("waivers", []):
                if outcomes.get(waiver["criterion"]) != "warning":
                    return Answer("precondition_failed", note=f"waiver of {waiver['criterion']}")
                outcomes[waiver["criterion"]] = "waived"
            app.outcomes = outcomes
        if type_ == "application.approved" and {"fail", "warning"} & set(app.outcomes.values()):
            return Answer("precondition_failed", note="failing or unwaived clause")
        # apply
        app.version += 1
        if type_ == "application.resubmitted":
            app.indicators = p["indicators"]
        if type_ == "application.recommended":
            app.recommended_at = when
        if type_ == "materials.received":
            app.receipts.append((when, p["paper_copies"] if p["a4_bound"] else 0,
                                 p["electronic_copies"] if p["electronic_labelled"] else 0))
        new_state = becomes or state
        note = ""
        if lapsed:
            app.underlying = new_state
            note = "recorded; still lapsed"
            if not self.shortfall(app):
                app.status, app.deadline = new_state, "reinstated"
                app.version += 1
                note = "reinstated"
        else:
            app.status = new_state
        return Answer("ok", ref, app.status, app.version, note)

    def complete(self, app: Model, until: datetime | None) -> bool:
        paper = sum(r[1] for r in app.receipts if until is None or r[0] <= until)
        electronic = sum(r[2] for r in app.receipts if until is None or r[0] <= until)
        return paper >= 2 and electronic >= 1

    def shortfall(self, app: Model) -> bool:
        recommended = app.recommended_at is not None and app.recommended_at <= CUTOFF
        return not (recommended and self.complete(app, CUTOFF))

    def lapse_if_short(self, app: Model) -> bool:
        if self.shortfall(app):
            app.underlying, app.status = app.status, "lapsed"
            app.version += 1
            app.deadline = "lapsed"
            return True
        app.deadline = "on_time"
        return False

    def deadline_check(self) -> Answer:
        self.checked = True
        lapsed = []
        for app in self.apps.values():
            if app.status in ("rejected", "withdrawn"):
                app.deadline = "not_applicable"
            elif app.status != "lapsed" and self.lapse_if_short(app):
                lapsed.append(app.ref)
        return Answer("ok", note=f"lapsed {len(lapsed)}: {', '.join(lapsed)}")


# =============================================================================================
# Building, checking, writing

def load_principals() -> dict[str, dict]:
    with CONFIG.open("rb") as fh:
        return {p["name"]: p for p in tomllib.load(fh)["principals"]}


def build(principals: dict[str, dict]) -> Batch:
    rng = random.Random(SEED)
    b = Batch(rng, principals)
    for app in towns_table():
        assert app.ref not in b.apps, app.ref
        assert app.owner in principals, app.owner
        app.indicators = indicators_for(rng, app, app.profile)
        b.apps[app.ref] = app
    for app in b.apps.values():
        PATHS[app.path](b, app)
    faults_duplicates(b)
    faults_conflicts(b)
    faults_malformed(b)
    faults_schema(b)
    faults_unknown_type_and_call(b)
    faults_unauthenticated(b)
    faults_forbidden(b)
    faults_unknown_application(b)
    faults_invalid_transition(b)
    faults_preconditions(b)
    faults_deadline(b)
    faults_late_on_lapsed(b)
    return b


def check(steps: list[Step], principals: dict[str, dict]) -> tuple[Simulation, list[Answer]]:
    """Plays the lines; stops if any would not get the answer it was written for."""
    sim = Simulation(principals)
    answers, wrong = [], []
    for number, step in enumerate(steps, 1):
        answer = sim.play(step.line())
        answers.append(answer)
        if answer.code != step.expect:
            wrong.append(f"line {number}: expected {step.expect}, model says {answer.code} "
                         f"({answer.note}) -- {step.label}")
    if wrong:
        sys.exit("the batch does not do what it was written for:\n" + "\n".join(wrong))
    return sim, answers


def describe(number: int, step: Step, answer: Answer) -> str:
    line = step.line()
    if "control" in line:
        return f"{number:4d}  {'CONTROL':20s} deadline_check as of {line['as_of']}: {answer.note}"
    env = step.env or {}
    kind = env.get("type", "?") if "envelope" in line else "raw"
    state = f"-> {answer.status} v{answer.version}" if answer.status else ""
    extra = f" [{answer.note}]" if answer.note and answer.code == "ok" else ""
    return (f"{number:4d}  {answer.code:20s} {str(step.principal):22s} {kind:26s} "
            f"{env.get('application_ref', ''):12s} {state}{extra}  | {step.label}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect", action="store_true",
                        help="print every line's expected answer")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    principals = load_principals()
    batch = build(principals)
    steps = batch.finalize()
    sim, answers = check(steps, principals)
    with args.out.open("w", encoding="utf-8") as fh:
        for step in steps:
            fh.write(json.dumps(step.line(), ensure_ascii=False) + "\n")

    if args.expect:
        for number, (step, answer) in enumerate(zip(steps, answers), 1):
            print(describe(number, step, answer))
        print()
    apps = list(sim.apps.values())
    control_line = next(i for i, s in enumerate(steps, 1) if s.control)
    print(f"wrote {len(steps)} lines to {args.out} (deadline check at line {control_line})")
    print(f"applications: {len(apps)} in {len({a.city for a in apps})} of 22 jurisdictions")
    print("tracks: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(a.track for a in apps).items())))
    print("regions: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(a.region for a in apps).items())))
    print("expected answers: " + ", ".join(
        f"{k} {v}" for k, v in Counter(a.code for a in answers).most_common()))
    print("final status: " + ", ".join(
        f"{k} {v}" for k, v in Counter(a.status for a in apps).most_common()))
    print("deadline outcome: " + ", ".join(
        f"{k} {v}" for k, v in Counter(a.deadline for a in apps).most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
