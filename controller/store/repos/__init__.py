"""The store's repositories, one per concern; each works on the connection of one unit of work (store.tx())."""

from controller.store.repos.agents import AgentRepo
from controller.store.repos.audit import AuditRepo
from controller.store.repos.cameras import CameraRepo
from controller.store.repos.campaigns import CampaignRepo
from controller.store.repos.census import CensusRepo, RecorderRepo
from controller.store.repos.commands import CommandRepo
from controller.store.repos.people import PeopleRepo
from controller.store.repos.quarantine import QuarantineRepo

__all__ = [
    "AgentRepo",
    "AuditRepo",
    "CameraRepo",
    "CampaignRepo",
    "CensusRepo",
    "CommandRepo",
    "PeopleRepo",
    "QuarantineRepo",
    "RecorderRepo",
]
