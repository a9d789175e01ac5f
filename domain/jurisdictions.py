"""The 22 recommending jurisdictions of the notice and their regions.

Shunde is a district of Foshan, but the notice addresses its bureau as a recommending authority of
its own, so it is a jurisdiction here: Foshan's authority cannot act on Shunde's applications.
"""

from __future__ import annotations

from dataclasses import dataclass

PRD = "prd"  # Pearl River Delta, 珠三角
EWN = "ewn"  # east, west and north Guangdong, 粤东西北


@dataclass(frozen=True)
class Jurisdiction:
    code: str
    name: str
    chinese: str
    region: str


JURISDICTIONS: dict[str, Jurisdiction] = {
    j.code: j
    for j in (
        Jurisdiction("guangzhou", "Guangzhou", "广州", PRD),
        Jurisdiction("shenzhen", "Shenzhen", "深圳", PRD),
        Jurisdiction("zhuhai", "Zhuhai", "珠海", PRD),
        Jurisdiction("foshan", "Foshan", "佛山", PRD),
        Jurisdiction("shunde", "Shunde", "顺德", PRD),
        Jurisdiction("huizhou", "Huizhou", "惠州", PRD),
        Jurisdiction("dongguan", "Dongguan", "东莞", PRD),
        Jurisdiction("zhongshan", "Zhongshan", "中山", PRD),
        Jurisdiction("jiangmen", "Jiangmen", "江门", PRD),
        Jurisdiction("zhaoqing", "Zhaoqing", "肇庆", PRD),
        Jurisdiction("shantou", "Shantou", "汕头", EWN),
        Jurisdiction("shanwei", "Shanwei", "汕尾", EWN),
        Jurisdiction("chaozhou", "Chaozhou", "潮州", EWN),
        Jurisdiction("jieyang", "Jieyang", "揭阳", EWN),
        Jurisdiction("yangjiang", "Yangjiang", "阳江", EWN),
        Jurisdiction("zhanjiang", "Zhanjiang", "湛江", EWN),
        Jurisdiction("maoming", "Maoming", "茂名", EWN),
        Jurisdiction("shaoguan", "Shaoguan", "韶关", EWN),
        Jurisdiction("heyuan", "Heyuan", "河源", EWN),
        Jurisdiction("meizhou", "Meizhou", "梅州", EWN),
        Jurisdiction("qingyuan", "Qingyuan", "清远", EWN),
        Jurisdiction("yunfu", "Yunfu", "云浮", EWN),
    )
}

CITY_CODES: tuple[str, ...] = tuple(JURISDICTIONS)


def region_of(city: str) -> str:
    """The region (``prd`` or ``ewn``) of a jurisdiction code; KeyError for an unknown one."""
    return JURISDICTIONS[city].region
