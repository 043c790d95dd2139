"""Weeks, months and seasons built from their days' sums.

Why: a season is ~700,000 samples. Reading and summarising them again for every
``stats --by month`` took as long as the first time, although every finished day's
figures are already stored (:mod:`luxlog.dayfigures`). A day now keeps, beside its row,
its unrounded running sums (a *partial*, plain JSON); a longer period adds up the
partials of its days and makes its row from the total, exactly as a day's row is made
(:class:`~luxlog.periodrows.RowMaker`). The first run computes the days' partials in
one pass over the samples (as fast as ``--by day``); later runs read them.

Adding up is exact where the rules are sums (samples, counter steps, lock hours,
defrosts, energy, gap time) and keeps what a longer period sees that its days do not:

* a counter step or energy step across a day's start that spans more than the bridge
  (3 h) belongs to no day, but a week, month or season that holds the sample it started
  from takes it: each day keeps such steps aside with the time they start
  (:attr:`~luxlog.counters.CounterSum.unattributed_from`,
  :attr:`~luxlog.energy.Account.bridged`);
* gaps that touch at midnight are one gap of the longer period;
* degree days are the sum of the days' degree days (each from its own mean).

A period's figures are therefore the sum of its days' figures plus those long steps,
and ``stats --by month`` agrees with ``stats --by day`` of the same days.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from luxlog.counters import COUNTERS, MAX_NOTES, Accumulator, PeriodStats
from luxlog.energy import Account, Sums
from luxlog.periodrows import RowMaker, degree_days
from luxlog.periods import Calendar, Period

#: A day's sums as plain JSON values (see :func:`to_partial`).
Partial = dict[str, Any]

_SUMS_FIELDS = (
    "e_heating",
    "e_hot_water",
    "e_other",
    "e_ms",
    "j_heat_heating",
    "j_heat_hot_water",
    "j_e_heating",
    "j_e_hot_water",
    "j_e_other",
    "j_ms",
)


def days_of(periods: Sequence[Period], calendar: Calendar) -> list[Period]:
    """Every day of ``periods``, in order."""
    return [
        day_period
        for period in periods
        for day in period.days()
        if (day_period := calendar.period("day", day)) is not None
    ]


def _account_data(account: Account) -> dict[str, Any]:
    return {
        "heat_ms": account.heat_ms,
        "sources": {
            name: [getattr(sums, f) for f in _SUMS_FIELDS] for name, sums in account.sources.items()
        },
        "stuck_ms": account.stuck_ms,
        "stuck_run_s": account.stuck_run_s,
        "bridged": [[start, _account_data(part)] for start, part in account.bridged.items()],
    }


def _account(data: dict[str, Any]) -> Account:
    account = Account(
        heat_ms=int(data["heat_ms"]),
        stuck_ms=int(data["stuck_ms"]),
        stuck_run_s=float(data["stuck_run_s"]),
    )
    for name, values in data["sources"].items():
        account.sources[name] = Sums(*values)
    for start, part in data["bridged"]:
        account.bridged[int(start)] = _account(part)
    return account


def to_partial(acc: Accumulator) -> Partial:
    """A finished day's sums, before its row adds the flags only a whole day has.

    Floats survive JSON exactly (``repr`` round-trips), so a partial read back adds up
    to the same figures as the day it was taken from.
    """
    return {
        "start": acc.start,
        "samples": acc.samples,
        "temperatures": [
            [t.count, t.total, t.low, t.high] if t.count else None for t in acc.temperatures
        ],
        "counters": [
            [c.raw, c.steps, c.unattributed, c.unattributed_from]
            for c in (acc.counters[spec.column] for spec in COUNTERS)
        ],
        "unattributed_gap": list(acc.unattributed_gap) if acc.unattributed_gap else None,
        "evu_ms": acc.evu_ms,
        "evu_known": acc.evu_known,
        "defrosts": acc.defrosts,
        "defrost_known": acc.defrost_known,
        "energy": _account_data(acc.energy),
        "gaps": [list(gap) for gap in acc.gaps],
        "flags": list(acc.flags),
        "notes": list(acc.notes),
        "extra_notes": acc.extra_notes,
        "degree_days": degree_days(acc.temperatures[0].result()[1]),
    }


def _add_temperatures(acc: Accumulator, partial: Partial) -> None:
    for total, part in zip(acc.temperatures, partial["temperatures"], strict=True):
        if part is None:
            continue
        count, summed, low, high = part
        total.count += int(count)
        total.total += float(summed)
        total.low = min(total.low, float(low))
        total.high = max(total.high, float(high))


def _add_counters(acc: Accumulator, partial: Partial) -> None:
    for spec, (raw, steps, unattributed, since) in zip(COUNTERS, partial["counters"], strict=True):
        total = acc.counters[spec.column]
        total.raw += int(raw)
        total.steps += int(steps)
        if since is None:
            continue
        if since >= acc.start:  # the step started inside this period: it is ours
            total.raw += int(unattributed)
            total.steps += 1
        else:
            total.unattributed += int(unattributed)
            total.unattributed_from = int(since)
            gap = partial["unattributed_gap"]
            acc.unattributed_gap = (int(gap[0]), int(gap[1])) if gap else None


def _add_energy(account: Account, part: Account, start: int) -> None:
    account.merge(part)
    for since, bridged in part.bridged.items():
        if since >= start:
            account.merge(bridged)  # started inside this period
        else:
            account.bridged_from(since).merge(bridged)


def add(acc: Accumulator, partial: Partial) -> None:
    """Add one day's ``partial`` to the sums of the period ``acc`` that holds it."""
    acc.samples += int(partial["samples"])
    _add_temperatures(acc, partial)
    _add_counters(acc, partial)
    acc.evu_ms += int(partial["evu_ms"])
    acc.evu_known = acc.evu_known or bool(partial["evu_known"])
    acc.defrosts += int(partial["defrosts"])
    acc.defrost_known = acc.defrost_known or bool(partial["defrost_known"])
    _add_energy(acc.energy, _account(partial["energy"]), acc.start)
    for a, b in partial["gaps"]:
        acc.add_gap(int(a), int(b))  # joins a gap that runs on from the day before
    for code in partial["flags"]:
        acc.flags[code] = None
    for note in partial["notes"]:
        if len(acc.notes) < MAX_NOTES:
            acc.notes.append(note)
        else:
            acc.extra_notes += 1
    acc.extra_notes += int(partial["extra_notes"])


def compose(
    periods: Sequence[Period],
    partials: Sequence[Partial],
    *,
    calendar: Calendar,
    interval_sec: int,
    now_ms: int | None,
) -> list[PeriodStats]:
    """Rows of ``periods`` from the partials of their days (in time order; a day
    belongs to the period that holds its start)."""
    rows = RowMaker(calendar, interval_sec)
    result: list[PeriodStats] = []
    position = 0
    for period in periods:
        acc = Accumulator(period, now_ms=now_ms)
        known: list[float] = []
        while position < len(partials) and partials[position]["start"] < period.end_ms:
            partial = partials[position]
            position += 1
            if partial["start"] < period.start_ms:
                continue  # a day before this period (periods may leave days out)
            add(acc, partial)
            if partial["degree_days"] is not None:
                known.append(float(partial["degree_days"]))
        row = rows.row(acc)
        row.degree_days = round(sum(known), 1) if known else None
        result.append(row)
    return result
