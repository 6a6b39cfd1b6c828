"""SQLAlchemy 2 typed models; importing this package registers every table on `Base.metadata`."""

from orchestrator.models.accounts import ApiToken, AuditChainHead, Department, LoginThrottle, User, UserDepartment
from orchestrator.models.approval import ApprovalOpinion, CarbonCopy, TaskProxy
from orchestrator.models.calendar import CalendarDay, CalendarYear
from orchestrator.models.clock import CaseClock, ClockExtension, ClockPause
from orchestrator.models.definitions import Deployment, DeploymentResource, ProcessDefinition
from orchestrator.models.forms import FormDraft, FormSubmission, Material
from orchestrator.models.instances import (
    TIMER_PENDING,
    ActivityInstance,
    AuditEvent,
    HumanTask,
    HumanTaskCandidate,
    Incident,
    Job,
    MessageSubscription,
    ProcessInstance,
    Timer,
)
from orchestrator.models.supervision import Notification, SupervisionAction, SupervisionItem, TimerFiring

__all__ = [
    "ApiToken",
    "AuditChainHead",
    "Department",
    "LoginThrottle",
    "User",
    "UserDepartment",
    "ActivityInstance",
    "ApprovalOpinion",
    "AuditEvent",
    "CalendarDay",
    "CalendarYear",
    "CarbonCopy",
    "CaseClock",
    "ClockExtension",
    "ClockPause",
    "Deployment",
    "DeploymentResource",
    "FormDraft",
    "FormSubmission",
    "HumanTask",
    "HumanTaskCandidate",
    "Incident",
    "Job",
    "Material",
    "MessageSubscription",
    "Notification",
    "ProcessDefinition",
    "ProcessInstance",
    "SupervisionAction",
    "SupervisionItem",
    "TaskProxy",
    "Timer",
    "TimerFiring",
    "TIMER_PENDING",
]
