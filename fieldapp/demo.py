"""Deterministic demo data: a community's year of work, or one device database per community of the district.

Everything goes through the real Store (validation, versions, hlc), with the clock and the ids
driven by the seeded generator, so the same seed and `today` give the same bytes of data.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

from fieldapp import ids, reference
from fieldapp.store import Store
from fieldapp.store.checks import age_on

CHINA = timezone(timedelta(hours=8))
DEFAULT_COMMUNITY = "321202001901"  # a sample community (城东示例社区01), the example bundle's code
ELDERS_PER_60PLUS = 0.29  # registered elders ÷ 60+ population: ≈ 40,000 for the district

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单"
GIVEN_M = "建国华明德文志军平海林强福荣贵生成根发祥宝金兴明忠良庆春永"
GIVEN_F = "秀英兰芳珍凤玉梅桂红霞翠娟美琴云丽萍素月华娥凤芬淑慧"
STREET_WORDS = [
    *("人民路", "海陵路", "鼓楼路", "青年路", "东进路", "坡子街"),
    *("江洲路", "凤凰路", "迎春路", "工人路", "九龙路", "渔行路"),
]
ADDRESS_CODES = ["321202"] * 8 + ["321203", "321204", "321281", "321283"]


@dataclass
class DemoStats:
    path: str
    community_code: str
    counts: dict[str, int]
    versions: int
    seconds: float


class _SimClock:
    """The demo's wall clock: each save happens at the simulated moment of the work."""

    def __init__(self) -> None:
        self.ms = 0

    def set(self, when: datetime) -> None:
        self.ms = max(self.ms + 1, int(when.timestamp() * 1000))

    def __call__(self) -> int:
        return self.ms


def id_number(rng: random.Random, born: date, male: bool) -> str:
    from stdnum.cn import ric

    seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
    body = f"{rng.choice(ADDRESS_CODES)}{born:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def _name(rng: random.Random, male: bool) -> str:
    given = GIVEN_M if male else GIVEN_F
    n = 1 if rng.random() < 0.3 else 2
    return rng.choice(SURNAMES) + "".join(rng.choice(given) for _ in range(n))


def _phone(rng: random.Random) -> str:
    return "1" + rng.choice("3589") + "".join(str(rng.randrange(10)) for _ in range(9))


def _at(d: date, rng: random.Random, hour: int = 9) -> datetime:
    return datetime(d.year, d.month, d.day, hour, rng.randrange(60), tzinfo=CHINA)


@dataclass
class _Elder:
    """One generated elder: the record, what later work depends on, and its id once saved."""

    data: dict[str, Any]
    born: date
    registered: date
    rid: str = ""

    @property
    def risk(self) -> str:
        return str(self.data["visit_risk"])


@dataclass
class _Community:
    """What every record generator needs: the store, the seeded generator, the year, the plan.

    Each generator draws its random numbers now, in a fixed order, and schedules the saves with
    `at`; `run` then saves in time order so the hlc and the ids follow the calendar. Changing
    the order of the draws changes the data set of every seed."""

    store: Store
    rng: random.Random
    clock: _SimClock
    ref: reference.Reference
    comm: reference.Community
    today: date
    workers: list[str]
    plan: list[tuple[datetime, int, Callable[[], object]]] = field(default_factory=list)

    @property
    def first(self) -> date:
        return self.today - timedelta(days=364)

    def at(self, when: datetime, action: Callable[[], object]) -> None:
        self.plan.append((when, len(self.plan), action))

    def for_elder(self, kind: str, data: dict[str, Any], elder: _Elder) -> None:
        self.store.create(kind, {**data, "elder_id": elder.rid})

    def run(self, batch: int = 5000) -> None:
        """Every planned save at its simulated moment, one transaction per `batch` saves."""
        self.plan.sort(key=lambda x: (x[0], x[1]))
        for start in range(0, len(self.plan), batch):
            with self.store.transaction():
                for when, _, action in self.plan[start : start + batch]:
                    self.clock.set(when)
                    action()


def generate_community(
    path: Path,
    *,
    community_code: str = DEFAULT_COMMUNITY,
    seed: int = 1,
    today: date | None = None,
    scale: float = 1.0,
    elders: int | None = None,
    every_kind: bool = True,
) -> DemoStats:
    """One community device database with a year of work up to `today` (which must be ≤ the real today).

    `every_kind` makes sure the data set has every record kind (a meal point at least); the
    district generator turns it off so that some communities have no meal point, as in life."""
    started = time.perf_counter()
    today = today or date.today()
    ref = reference.load()
    comm = next((c for c in ref.communities if c.code == community_code), None)
    if comm is None:
        raise ValueError(f"社区代码「{community_code}」不在参考数据中 (unknown community code)")
    rng = random.Random(f"{seed}:{community_code}")
    clock = _SimClock()
    clock.set(_at(today - timedelta(days=364), rng, 8))
    if path.exists():
        raise FileExistsError(
            f"{path} 已存在，演示数据只写入新文件 (demo data is only written to a new file)"
        )
    store = Store.open(path, now=clock, new_id=lambda: ids.uuid7(clock.ms, rng))
    try:
        c = _Community(store, rng, clock, ref, comm, today, workers=[])
        c.workers += [_name(rng, rng.random() < 0.3) for _ in range(2)]
        store.setup_device(
            street_code=comm.street_code,
            community_code=comm.code,
            worker=c.workers[0],
            label=f"{comm.name_zh}-笔记本1",
        )
        n_elders = (
            elders if elders is not None else max(5, round(comm.pop_60 * ELDERS_PER_60PLUS * scale))
        )
        people = _elders(c, n_elders)
        _home_visits(c, people)
        _assessments(c, people)
        _retrofits(c, people, n_elders, scale)
        _meals(c, every_kind)
        _volunteers(c, scale, every_kind)
        _later_edits(c, people, n_elders)
        c.run()
    except BaseException:
        store.close()
        raise
    counts = store.counts(include_deleted=True)
    versions = counts.pop("versions")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return DemoStats(str(path), comm.code, counts, versions, time.perf_counter() - started)


def _elder_data(c: _Community, male: bool, born: date) -> dict[str, Any]:
    rng = c.rng
    data: dict[str, Any] = {
        "name": _name(rng, male),
        "address": f"海陵区{rng.choice(STREET_WORDS)}{rng.randrange(1, 300)}号{rng.randrange(1, 6)}单元{rng.randrange(1, 7)}0{rng.randrange(1, 4)}",
        "community_code": c.comm.code,
        "living_status": rng.choices(
            ["alone", "empty_nest", "with_children", "left_behind", "other"], [18, 35, 35, 7, 5]
        )[0],
        "hardship_tags": rng.sample(
            [
                "extreme_poverty",
                "dibao",
                "near_dibao",
                "special_family",
                "severe_disability",
                "disabled",
                "dementia",
            ],
            k=rng.choices([0, 1, 2], [75, 20, 5])[0],
        ),
        "visit_risk": rng.choices(["high", "priority", "general"], [10, 25, 65])[0],
        "status": "active",
        "consent": rng.choices(["statutory_duty", "consented", "none"], [70, 28, 2])[0],
        "phone": _phone(rng) if rng.random() < 0.8 else None,
    }
    if (
        age_on(born, c.first) < 60
    ):  # may be under 60 when registered: the worker confirms (SPEC §3 v2)
        data["under_60_confirmed"] = True
    if rng.random() < 0.03:
        data |= {
            "id_missing_reason": "户籍外来，证件待补",
            "gender": "M" if male else "F",
            "birth_date": born.isoformat(),
        }
    else:
        data["id_number"] = id_number(rng, born, male)
    if rng.random() < 0.7:
        data |= {
            "emergency_contact_name": _name(rng, rng.random() < 0.5),
            "emergency_contact_phone": _phone(rng),
            "emergency_contact_relation": rng.choice(["子女", "配偶", "亲属", "邻居"]),
        }
    return data


def _elders(c: _Community, n_elders: int) -> list[_Elder]:
    """The elders, most registered in the first three weeks of the year, a tenth later on."""
    rng, out = c.rng, []
    for i in range(n_elders):
        male = rng.random() < 0.45
        age = min(104, 60 + int(rng.expovariate(1 / 12)))
        born = date(c.today.year - age, rng.randrange(1, 13), rng.randrange(1, 29))
        data = _elder_data(c, male, born)
        reg = c.first + timedelta(
            days=rng.randrange(0, 20) if i < n_elders * 0.9 else rng.randrange(20, 300)
        )
        elder = _Elder(data, born, reg)
        out.append(elder)

        def register(elder: _Elder = elder) -> None:
            elder.rid = c.store.create("elder", elder.data).record_id

        c.at(_at(reg, rng, 8), register)
    return out


VISIT_INTERVAL = {"high": 10, "priority": 30, "general": 95}  # days between visits, by risk


def _visit_data(c: _Community, d: date) -> dict[str, Any]:
    rng, ref = c.rng, c.ref
    mode = rng.choices(["in_person", "phone", "video"], [85, 10, 5])[0]
    stype = rng.choices(
        ["daily_visit", "life_care", "meal_clean", "travel_assist", "care_patrol", "emergency"],
        [45, 15, 15, 5, 19, 1],
    )[0]
    start = rng.randrange(8 * 60, 17 * 60)
    dur = rng.choice([20, 30, 30, 45, 60, 90])
    return {
        "visit_date": d.isoformat(),
        "start_time": f"{start // 60:02d}:{start % 60:02d}",
        "end_time": f"{(start + dur) // 60:02d}:{(start + dur) % 60:02d}",
        "service_type": stype,
        "service_items": rng.sample(
            ref.service_items(stype),
            k=min(len(ref.service_items(stype)), rng.randrange(0, 3)),
        ),
        "contact_mode": mode,
        "funding": rng.choices(["gov_purchase", "volunteer", "self_paid", "other"], [75, 15, 7, 3])[
            0
        ],
        "worker": rng.choice(c.workers),
        "elder_condition": rng.choices(["good", "fair", "poor", "abnormal"], [55, 30, 12, 3])[0],
        "issues": rng.sample(
            ["health", "safety", "living", "emotional", "family_neglect"],
            k=rng.choices([0, 1, 2], [70, 25, 5])[0],
        ),
        "referral": rng.choices(
            ["none", "medical", "assistance", "retrofit", "meal"], [88, 4, 3, 3, 2]
        )[0],
        "satisfaction": rng.choices([5, 4, 3], [70, 25, 5])[0],
    }


def _home_visits(c: _Community, people: list[_Elder]) -> None:
    """Home visits by risk, with gaps so that some elders are overdue today; a few edited or deleted."""
    rng, store = c.rng, c.store
    for elder in people:
        if elder.risk == "general" and rng.random() < 0.4:
            continue  # not visited this year
        step = VISIT_INTERVAL[elder.risk]
        d = elder.registered + timedelta(days=rng.randrange(1, step + 1))
        while d <= c.today:
            visit = _visit_data(c, d)
            when = _at(d, rng, int(visit["start_time"][:2]))

            def log_visit(
                elder: _Elder = elder,
                visit: dict[str, Any] = visit,
                edit: bool = rng.random() < 0.02,
                drop: bool = rng.random() < 0.005,
            ) -> None:
                saved = store.create("home_visit", {**visit, "elder_id": elder.rid})
                if edit:
                    store.update(
                        "home_visit",
                        saved.record_id,
                        {**visit, "elder_id": elder.rid, "notes": "补记：已电话回访家属"},
                    )
                if drop:
                    store.delete("home_visit", saved.record_id)

            c.at(when, log_visit)
            d += timedelta(days=max(1, int(step * rng.uniform(0.6, 1.5))))


def _assessments(c: _Community, people: list[_Elder]) -> None:
    """Assessments: most 80+ within the year, some younger ones for a service."""
    rng = c.rng
    for elder in people:
        age = c.today.year - elder.born.year
        if not ((age >= 80 and rng.random() < 0.9) or rng.random() < 0.08):
            continue
        d = elder.registered + timedelta(
            days=rng.randrange(1, max(2, (c.today - elder.registered).days))
        )
        sc = [
            rng.randrange(8, 33),
            rng.randrange(3, 16),
            rng.randrange(8, 29),
            rng.randrange(3, 16),
        ]
        data = {
            "assess_date": d.isoformat(),
            "reason": rng.choices(["initial", "routine", "change", "service"], [30, 55, 10, 5])[0],
            "assessors": rng.sample(c.workers, k=rng.randrange(1, 3)),
            "score_self_care": sc[0],
            "score_mobility": sc[1],
            "score_mental": sc[2],
            "score_perception_social": sc[3],
            "dementia_dx": rng.random() < 0.05,
            "risk_events_30d": rng.choices([0, 1, 2, 3], [80, 12, 6, 2])[0],
        }
        c.at(_at(d, rng, 10), partial(c.for_elder, "assessment", data, elder))


RETROFIT_STATUSES = [
    "applied",
    "assessed",
    "planned",
    "in_progress",
    *["accepted"] * 4,
    "failed",
    "cancelled",
]
RETROFIT_STEPS = ["assess_date", "start_date", "accept_date"]
STEPS_DONE = {  # how many of RETROFIT_STEPS a retrofit in this status has passed
    "applied": 0,
    "assessed": 1,
    "planned": 1,
    "in_progress": 2,
    "accepted": 3,
    "failed": 3,
    "cancelled": 1,
}


def _retrofit_dates(c: _Community, elder: _Elder, upto: int) -> dict[str, date]:
    rng = c.rng
    apply_d = elder.registered + timedelta(days=rng.randrange(1, 60))
    if apply_d > c.today - timedelta(days=100):
        apply_d = c.today - timedelta(days=100 + rng.randrange(0, 30))
        apply_d = max(apply_d, c.first)
    dates = {"apply_date": apply_d}
    d = apply_d
    for s in RETROFIT_STEPS[:upto]:
        d += timedelta(days=rng.randrange(5, 25))
        dates[s] = d
    return dates


def _retrofit_data(c: _Community, elder: _Elder, status: str) -> dict[str, Any]:
    rng = c.rng
    upto = STEPS_DONE[status]
    dates = _retrofit_dates(c, elder, upto)
    chosen = rng.sample(list(c.ref.retrofit_items), k=rng.randrange(1, 5))
    lines: list[dict[str, Any]] = [
        {
            "code": e.code,
            "qty": rng.randrange(1, 4),
            "unit_price": rng.choice([80, 150, 200, 350, 600, 1200]),
        }
        for e in chosen
    ]
    cost = (
        sum(line["qty"] * line["unit_price"] for line in lines)
        if status in ("in_progress", "accepted", "failed", "planned")
        else 0
    )
    subsidy = min(cost, 3000) if cost else 0
    return {
        "project_year": dates["apply_date"].year,
        "funding_type": "subsidized"
        if subsidy
        else rng.choice(["self_paid", "donated", "subsidized"]),
        "status": status,
        **{k: v.isoformat() for k, v in dates.items()},
        "contractor": "泰州市示例适老化工程有限公司" if upto >= 2 else None,
        "items": lines,
        "cost_total": cost,
        "subsidy": subsidy,
        "self_paid": cost - subsidy,
    }


def _retrofits(c: _Community, people: list[_Elder], n_elders: int, scale: float) -> None:
    """Retrofits: a pipeline in every status, for elders registered early in the year."""
    rng = c.rng
    n_retro = max(len(RETROFIT_STATUSES) if scale >= 1 else 2, round(n_elders * 0.04))
    early = [e for e in people if e.registered < c.first + timedelta(days=20)]
    for k, elder in enumerate(rng.sample(early, k=min(n_retro, len(early)))):
        data = _retrofit_data(c, elder, RETROFIT_STATUSES[k % len(RETROFIT_STATUSES)])
        last = max(
            date.fromisoformat(data[s]) for s in ("apply_date", *RETROFIT_STEPS) if s in data
        )
        c.at(_at(last, rng, 15), partial(c.for_elder, "retrofit", data, elder))


def _meal_count(c: _Community, d: date, meal: str, kind: str) -> dict[str, Any]:
    rng = c.rng
    dine, deliv, pick = (
        rng.randrange(1, 6),
        rng.randrange(0, 3) if kind == "canteen" else 0,
        rng.randrange(0, 3),
    )
    total = dine + deliv + pick
    sub = {"age_80": min(total, rng.randrange(0, 3))}
    if rng.random() < 0.3:
        sub["dibao"] = min(total - sub["age_80"], 1)
    return {
        "service_date": d.isoformat(),
        "meal": meal,
        "dine_in": dine,
        "delivery": deliv,
        "pickup": pick,
        "subsidized": {k: v for k, v in sub.items() if v},
    }


def _meals(c: _Community, every_kind: bool) -> None:
    """Meal points and a count per open day (lunch; dinner at canteens); some communities have none."""
    rng, store = c.rng, c.store
    n_points = rng.choices([0, 1, 2], [25, 60, 15])[0]
    if every_kind:
        n_points = max(1, n_points)
    for p in range(n_points):
        kind = rng.choice(["canteen", "meal_point", "restaurant", "neighbour"])
        point = {
            "name": f"{c.comm.name_zh}{'老年食堂' if kind == 'canteen' else '助餐点'}{p + 1}",
            "community_code": c.comm.code,
            "kind": kind,
            "modes": ["dine_in", "delivery", "pickup"]
            if kind == "canteen"
            else ["dine_in", "pickup"],
            "capacity_daily": rng.choice([20, 30, 50, 80]),
            "status": "open",
        }
        holder: dict[str, str] = {}

        def open_point(point: dict[str, Any], holder: dict[str, str]) -> None:
            holder["id"] = store.create("meal_point", point).record_id

        def count_meals(count: dict[str, Any], holder: dict[str, str], capacity: int) -> None:
            total = count.get("dine_in", 0) + count.get("delivery", 0) + count.get("pickup", 0)
            if total > capacity:  # a busy day above the point's capacity: the worker confirms it
                count = count | {"over_capacity_confirmed": True}
            store.create("meal_count", {**count, "point_id": holder["id"]})

        c.at(_at(c.first, rng, 7), partial(open_point, point, holder))
        meals = ["lunch", "dinner"] if kind == "canteen" else ["lunch"]
        d = c.first + timedelta(days=1)
        while d <= c.today:
            for meal in meals if d.weekday() < 6 else []:
                count = _meal_count(c, d, meal, kind)
                c.at(
                    _at(d, rng, 13 if meal == "lunch" else 19),
                    partial(count_meals, count, holder, int(str(point["capacity_daily"]))),
                )
            d += timedelta(days=1)


def _volunteers(c: _Community, scale: float, every_kind: bool) -> None:
    """Volunteers, registered at the start of the year, and the events they served at."""
    rng, store = c.rng, c.store
    vol_ids: list[str] = []

    def add_volunteer(v: dict[str, Any]) -> None:
        vol_ids.append(store.create("volunteer", v).record_id)

    for _ in range(max(3, round(12 * min(scale, 1.0)))):
        v = {
            "name": _name(rng, rng.random() < 0.4),
            "phone": _phone(rng),
            "platform_no": f"JS{rng.randrange(10**7, 10**8)}",
            "community_code": c.comm.code,
        }
        c.at(_at(c.first, rng, 9), partial(add_volunteer, v))
    n_events = rng.choices([0, 1, 2, 3], [40, 35, 15, 10])[0]
    for e in range(max(2, n_events) if every_kind else n_events):
        _event(c, e, vol_ids)


def _event(c: _Community, e: int, vol_ids: list[str]) -> None:
    """One volunteer event; its participants are drawn when it is saved, from the volunteers by then."""
    rng, comm = c.rng, c.comm
    d = c.first + timedelta(days=rng.randrange(5, 380) if e else rng.randrange(5, 360))
    status = "planned" if d > c.today else rng.choices(["done", "cancelled"], [9, 1])[0]
    cat = rng.choice([x for x in c.ref.codes("volunteer_category") if x != "other"])
    ev = {
        "title": f"{c.ref.label('volunteer_category', cat)}志愿助老活动",
        "event_date": d.isoformat(),
        "start_time": "09:00",
        "end_time": "11:30",
        "community_code": comm.code,
        "location": f"{comm.name_zh}党群服务中心",
        "organizer": f"{comm.name_zh}居委会",
        "category": cat,
        "beneficiaries": rng.randrange(5, 60),
        "status": status,
    }
    n_part = rng.randrange(2, 6)
    hours = [rng.choice([1, 1.5, 2, 2.5]) for _ in range(n_part)]

    def log_event() -> None:
        chosen = rng.sample(vol_ids, k=min(len(hours), len(vol_ids)))
        parts = (
            []
            if ev["status"] != "done"
            else [{"volunteer_id": v, "hours": h} for v, h in zip(chosen, hours, strict=False)]
        )
        c.store.create("volunteer_event", {**ev, "participants": parts})

    c.at(_at(min(d, c.today), rng, 12), log_event)


def _later_edits(c: _Community, people: list[_Elder], n_elders: int) -> None:
    """A few records edited later: phones change, an elder moves out, one dies."""
    rng, store = c.rng, c.store
    for elder in rng.sample(people, k=max(1, n_elders // 20)):
        d = elder.registered + timedelta(days=rng.randrange(30, 300))
        if d > c.today:
            continue
        change = rng.choices(["phone", "moved_out", "deceased"], [80, 12, 8])[0]

        def edit(elder: _Elder = elder, change: str = change, day: date = d) -> None:
            cur = store.get("elder", elder.rid)
            data = cur.record.payload()
            if change == "phone":
                data["phone"] = _phone(rng)
            else:  # on the simulated day it happened, not the real calendar's today
                data["status"], data["status_date"] = change, day.isoformat()
            store.update("elder", elder.rid, data, base_version_id=cur.version_id)

        c.at(_at(d, rng, 16), edit)


def _one(args: tuple[str, str, int, str, float]) -> DemoStats:
    path, code, seed, today, scale = args
    return generate_community(
        Path(path),
        community_code=code,
        seed=seed,
        today=date.fromisoformat(today),
        scale=scale,
        every_kind=False,
    )


def generate_district(
    out_dir: Path,
    *,
    seed: int = 1,
    today: date | None = None,
    scale: float = 1.0,
    jobs: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> list[DemoStats]:
    """One device database per community of the seed (≈ 40,000 elders, ≈ 300,000 visits at scale 1)."""
    today = today or date.today()
    out_dir.mkdir(parents=True, exist_ok=True)
    work = [
        (str(out_dir / f"{c.code}.db"), c.code, seed, today.isoformat(), scale)
        for c in reference.load().communities
    ]
    done: list[DemoStats] = []
    if jobs <= 1:
        for w in work:
            done.append(_one(w))
            if progress:
                progress(len(done), len(work))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for stats in pool.map(_one, work):
                done.append(stats)
                if progress:
                    progress(len(done), len(work))
    return done
