"""Primary/backup ingest (pure): which publish point the worker reads.

A stream may be published twice, to live/<id>/in (the primary) and
live/<id>/backup, with the same key. The worker reads the primary; it switches
to the backup once the primary has been offline for failoverAfterSeconds with the
backup live, and back once the primary has been live again for
failbackHoldSeconds (MediaLive's hysteresis: a flapping primary does not make
the output flap with it). spec.ingest.input overrides the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..api.v1alpha1 import (
    FailoverStatus,
    IngestSpec,
    IngestStatus,
    InputChoice,
    InputRole,
    LiveStream,
    LiveStreamStatus,
    SwitchReason,
    format_time,
    parse_time,
)

_EPOCH = datetime.min.replace(tzinfo=UTC)
_OVERRIDES = {InputChoice.PRIMARY: InputRole.PRIMARY, InputChoice.BACKUP: InputRole.BACKUP}


@dataclass(frozen=True)
class Selection:
    failover: FailoverStatus
    # Seconds until a pending failover or failback is due; None: nothing pending.
    wake_after: float | None = None


def select_input(
    spec: IngestSpec,
    primary: IngestStatus | None,
    backup: IngestStatus | None,
    current: FailoverStatus | None,
    now: datetime,
) -> Selection:
    """status.failover for this moment, and when to look again."""
    active = current.active if current else InputRole.PRIMARY
    override = _OVERRIDES.get(spec.input)
    if override is not None:
        return Selection(_switched(current, override, SwitchReason.OVERRIDE, now))
    primary, backup = primary or IngestStatus(), backup or IngestStatus()
    if active is InputRole.BACKUP:
        if not primary.available:
            return Selection(_kept(current, active))
        if not backup.available:
            return Selection(
                _switched(current, InputRole.PRIMARY, SwitchReason.BACKUP_OFFLINE, now)
            )
        wait = _remaining(primary.available_since, spec.failback_hold_seconds, now)
        if wait > 0:
            return Selection(_kept(current, active), wait)
        return Selection(_switched(current, InputRole.PRIMARY, SwitchReason.PRIMARY_RECOVERED, now))
    if primary.available or not backup.available:
        return Selection(_kept(current, active))
    # A primary that never published has been offline since the backup went live.
    offline_since = primary.unavailable_since or backup.available_since
    wait = _remaining(offline_since, spec.failover_after_seconds, now)
    if wait > 0:
        return Selection(_kept(current, active), wait)
    return Selection(_switched(current, InputRole.BACKUP, SwitchReason.PRIMARY_OFFLINE, now))


def reading(livestream: LiveStream, chosen: FailoverStatus | None) -> LiveStream:
    """The LiveStream as its worker is built and assigned: with the input chosen
    now, which the stored status shows only after this reconcile's write."""
    status = livestream.status
    if chosen is None or chosen == status.failover:
        return livestream
    return livestream.model_copy(update={"status": status.model_copy(update={"failover": chosen})})


def _remaining(since: str | None, hold: int, now: datetime) -> float:
    start = parse_time(since)
    return 0.0 if start is None else max(hold - (now - start).total_seconds(), 0.0)


def _kept(current: FailoverStatus | None, active: InputRole) -> FailoverStatus:
    return current or FailoverStatus(active=active)


def _switched(
    current: FailoverStatus | None, to: InputRole, reason: SwitchReason, now: datetime
) -> FailoverStatus:
    if current is not None and current.active is to:
        return current
    if current is None and to is InputRole.PRIMARY:
        return FailoverStatus(active=to)  # where every stream starts: no switch
    return FailoverStatus(active=to, last_switch_time=format_time(now), reason=reason)


def publishing(status: LiveStreamStatus) -> IngestStatus:
    """The ingest as the phase and the grace period see it: live while either
    publish point is; otherwise gone since the later of the two went away."""
    primary, backup = status.ingest or IngestStatus(), status.backup
    if primary.available or backup is None:
        return primary
    if backup.available:
        return backup
    gone = [t for t in (primary.unavailable_since, backup.unavailable_since) if t]
    latest = max(gone, key=lambda t: parse_time(t) or _EPOCH)
    return primary.model_copy(update={"unavailable_since": latest}) if gone else primary
