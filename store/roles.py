"""The roles people hold in QI teams and at the forum, and how to read them from text."""

from __future__ import annotations

import enum
import re


class Role(enum.StrEnum):
    """What someone brings to a team."""

    STAFF = "staff"
    SERVICE_USER = "service_user"
    CARER = "carer"
    PEER_SUPPORTER = "peer_supporter"
    OTHER = "other"

    @property
    def label(self) -> str:
        """Plain-English name for messages."""
        return _LABELS[self]


class Involvement(enum.StrEnum):
    """Team member ("Big I") or consulted now and then ("little i")."""

    TEAM_MEMBER = "team_member"
    CONSULTED = "consulted"


class ProjectStatus(enum.StrEnum):
    """Where a project is in its life."""

    ACTIVE = "active"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    STOPPED = "stopped"

    @property
    def label(self) -> str:
        """Plain-English name for messages."""
        return self.value.replace("_", " ")


class RsvpAnswer(enum.StrEnum):
    """An answer to a forum meeting invitation."""

    GOING = "going"
    MAYBE = "maybe"
    NOT_GOING = "not_going"


# The headline ("Big I") counts these roles: the trust's measure is service users and carers.
LIVED_EXPERIENCE_ROLES: frozenset[Role] = frozenset({Role.SERVICE_USER, Role.CARER})

_LABELS = {
    Role.STAFF: "staff",
    Role.SERVICE_USER: "service user",
    Role.CARER: "carer",
    Role.PEER_SUPPORTER: "peer supporter",
    Role.OTHER: "other",
}

# People type roles in many ways; accept the common ones so nobody is told off for wording.
# Keys are squashed (letters only), singular, without "a", "an", "the" or "my".
_ROLE_WORDS = {
    "staff": Role.STAFF,
    "staffmember": Role.STAFF,
    "memberofstaff": Role.STAFF,
    "clinician": Role.STAFF,
    "nurse": Role.STAFF,
    "doctor": Role.STAFF,
    "serviceuser": Role.SERVICE_USER,
    "su": Role.SERVICE_USER,
    "patient": Role.SERVICE_USER,
    "expertbyexperience": Role.SERVICE_USER,
    "carer": Role.CARER,
    "caregiver": Role.CARER,
    "familycarer": Role.CARER,
    "unpaidcarer": Role.CARER,
    "youngcarer": Role.CARER,
    "familymember": Role.CARER,
    "peersupporter": Role.PEER_SUPPORTER,
    "peersupport": Role.PEER_SUPPORTER,
    "peersupportworker": Role.PEER_SUPPORTER,
    "peerworker": Role.PEER_SUPPORTER,
    "peer": Role.PEER_SUPPORTER,
    "other": Role.OTHER,
}
# Words that say nothing about the role: "as a carer", "as an expert by experience".
_FILLER_WORDS = frozenset({"as", "a", "an", "the", "my"})
# Plurals people use for themselves ("as carers"), made singular before looking up.
_PLURAL_ENDINGS = (("ies", "y"), ("s", ""))

_STATUS_WORDS = {
    "active": ProjectStatus.ACTIVE,
    "inprogress": ProjectStatus.ACTIVE,
    "ongoing": ProjectStatus.ACTIVE,
    "open": ProjectStatus.ACTIVE,
    "live": ProjectStatus.ACTIVE,
    "started": ProjectStatus.ACTIVE,
    "notstarted": ProjectStatus.ACTIVE,
    "planning": ProjectStatus.ACTIVE,
    "onhold": ProjectStatus.ON_HOLD,
    "paused": ProjectStatus.ON_HOLD,
    "hold": ProjectStatus.ON_HOLD,
    "completed": ProjectStatus.COMPLETED,
    "complete": ProjectStatus.COMPLETED,
    "closed": ProjectStatus.COMPLETED,
    "finished": ProjectStatus.COMPLETED,
    "done": ProjectStatus.COMPLETED,
    "stopped": ProjectStatus.STOPPED,
    "abandoned": ProjectStatus.STOPPED,
    "cancelled": ProjectStatus.STOPPED,
    "canceled": ProjectStatus.STOPPED,
    "withdrawn": ProjectStatus.STOPPED,
}


def _squash(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.casefold())


def parse_role(text: str) -> Role | None:
    """Read a role from free text ("Service user", "as a carer", "carers"), or None."""
    exact = _ROLE_WORDS.get(_squash(text))
    if exact is not None:
        return exact
    words = [_squash(word) for word in re.split(r"[\s_-]+", text)]
    kept = [_singular(word) for word in words if word and word not in _FILLER_WORDS]
    return _ROLE_WORDS.get("".join(kept))


def _singular(word: str) -> str:
    if word in ("staff", "su") or word.endswith("ss"):
        return word
    for ending, replacement in _PLURAL_ENDINGS:
        if word.endswith(ending) and len(word) > len(ending) + 2:
            return word[: -len(ending)] + replacement
    return word


def parse_status(text: str) -> ProjectStatus | None:
    """Read a project status from free text ("In progress", "On hold"), or None."""
    return _STATUS_WORDS.get(_squash(text))


def role_list_text() -> str:
    """The roles as a plain-English list, for help and error messages."""
    return ", ".join(role.label for role in Role)
