"""Deploy diagrams as versioned process definitions; look definitions up; cache compiled specs."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, defer

from orchestrator.engine.parsing import CompiledProcess, compile_deployment
from orchestrator.engine.serializer import spec_from_dict, spec_to_dict
from orchestrator.errors import InvalidRequestError, NotFoundError
from orchestrator.models import Deployment, DeploymentResource, ProcessDefinition
from orchestrator.services import hot_sql, read_ahead
from orchestrator.services.audit import record_event
from orchestrator.services.step_departments import unknown_department_warnings

DIAGRAM_SUFFIXES = (".bpmn", ".bpmn20.xml", ".dmn", ".dmn11.xml")
OTHER_SUFFIXES = (".form", ".json", ".png", ".svg", ".md", ".txt")
MAX_RESOURCES = 50


@dataclass
class DeploymentResult:
    deployment: Deployment
    created: list[ProcessDefinition] = field(default_factory=list)
    unchanged: list[ProcessDefinition] = field(default_factory=list)
    # Deployed all the same, but worth an analyst's look: a step's department naming no known department.
    warnings: list[dict[str, Any]] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def _checksum(process: CompiledProcess, content: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(process.key.encode())
    digest.update(b"\0")
    digest.update(content)
    return digest.hexdigest()


def latest_definition(session: Session, key: str) -> ProcessDefinition | None:
    """The latest version of a key; its compiled spec is loaded only when read (the cache has it mostly)."""
    return session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.key == key)
        .order_by(ProcessDefinition.version.desc()).limit(1).options(defer(ProcessDefinition.spec_json))
    ).first()


def _library(session: Session, exclude: set[str]) -> dict[str, bytes]:
    """Latest XML of every other deployed key, so call activities resolve across deployments."""
    latest = (
        select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
        .group_by(ProcessDefinition.key)
        .subquery()
    )
    rows = session.execute(
        select(ProcessDefinition.key, DeploymentResource.name, DeploymentResource.content)
        .join(latest, (latest.c.key == ProcessDefinition.key) & (latest.c.version == ProcessDefinition.version))
        .join(
            DeploymentResource,
            (DeploymentResource.deployment_id == ProcessDefinition.deployment_id)
            & (DeploymentResource.name == ProcessDefinition.resource_name),
        )
    ).all()
    library: dict[str, bytes] = {}
    for key, name, content in rows:
        if key not in exclude:
            library[f"{key}/{name}"] = content
    return library


def deploy(
    session: Session,
    resources: Mapping[str, bytes],
    *,
    name: str | None = None,
    source: str | None = None,
    actor: str | None = None,
) -> DeploymentResult:
    """Compile and store a deployment; a key whose diagram is unchanged keeps its latest version."""
    if not resources:
        raise InvalidRequestError("部署中没有文件", "A deployment needs at least one resource", field="data")
    if len(resources) > MAX_RESOURCES:
        raise InvalidRequestError(
            f"一次部署最多 {MAX_RESOURCES} 个文件", f"At most {MAX_RESOURCES} resources per deployment", field="data"
        )
    diagrams = {n: c for n, c in resources.items() if n.lower().endswith(DIAGRAM_SUFFIXES)}
    for resource_name in resources:
        if resource_name not in diagrams and not resource_name.lower().endswith(OTHER_SUFFIXES):
            raise InvalidRequestError(
                f"不支持的文件类型：{resource_name}",
                f"Unsupported resource type: {resource_name}",
                field="data",
                filename=resource_name,
            )
    library = _library(session, set()) if any(b"callActivity" in c for c in diagrams.values()) else None
    processes = compile_deployment(diagrams, library=library) if diagrams else []
    warnings = unknown_department_warnings(session, processes, diagrams)

    deployment = Deployment(id=str(uuid.uuid4()), name=name, source=source, deployed_at=_now(), deployed_by=actor)
    result = DeploymentResult(deployment=deployment, warnings=warnings)
    session.add(deployment)
    for resource_name, content in resources.items():
        session.add(
            DeploymentResource(
                id=str(uuid.uuid4()),
                deployment_id=deployment.id,
                name=resource_name,
                content=content,
                sha256=hashlib.sha256(content).hexdigest(),
            )
        )
    for process in processes:
        checksum = _checksum(process, resources[process.resource_name])
        previous = latest_definition(session, process.key)
        if previous is not None and previous.checksum == checksum:
            result.unchanged.append(previous)
            continue
        version = (previous.version + 1) if previous is not None else 1
        definition = ProcessDefinition(
            id=f"{process.key}:{version}:{uuid.uuid4()}",
            key=process.key,
            version=version,
            name=process.name,
            version_tag=process.version_tag,
            deployment_id=deployment.id,
            resource_name=process.resource_name,
            checksum=checksum,
            spec_json=json.dumps(spec_to_dict(process), separators=(",", ":")),
            message_start_names=list(process.message_start_names),
            properties=dict(process.properties),
            suspended=False,
            created_at=_now(),
        )
        session.add(definition)
        result.created.append(definition)
    session.flush()
    record_event(
        session,
        None,
        "deployment.created",
        actor,
        {
            "deployment_id": deployment.id,
            "name": name,
            "resources": sorted(resources),
            "created": [d.id for d in result.created],
            "unchanged": [d.id for d in result.unchanged],
            **({"warnings": [{k: w[k] for k in ("code", "filename", "element_id", "departments")}
                             for w in warnings]} if warnings else {}),
        },
    )
    return result


def get_definition(session: Session, definition_id: str) -> ProcessDefinition:
    definition = session.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFoundError(
            f"流程定义不存在：{definition_id}", f"No process definition with id {definition_id}", field="id"
        )
    return definition


def get_latest_by_key(session: Session, key: str) -> ProcessDefinition:
    definition = latest_definition(session, key)
    if definition is None:
        raise NotFoundError(f"流程定义不存在：{key}", f"No process definition with key {key}", field="key")
    return definition


def definition_xml(session: Session, definition: ProcessDefinition) -> bytes:
    content = session.scalar(
        select(DeploymentResource.content).where(
            DeploymentResource.deployment_id == definition.deployment_id,
            DeploymentResource.name == definition.resource_name,
        )
    )
    if content is None:
        raise NotFoundError("流程定义的文件不存在", "Resource of the definition not found")
    return content


def list_definitions(
    session: Session,
    *,
    key: str | None = None,
    latest_only: bool = False,
    first: int = 0,
    max_results: int = 100,
) -> list[ProcessDefinition]:
    query = select(ProcessDefinition)
    if key:
        query = query.where(ProcessDefinition.key == key)
    if latest_only:
        latest = (
            select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
            .group_by(ProcessDefinition.key)
            .subquery()
        )
        query = query.join(
            latest, (latest.c.key == ProcessDefinition.key) & (latest.c.version == ProcessDefinition.version)
        )
    query = query.order_by(ProcessDefinition.key, ProcessDefinition.version).offset(first).limit(max_results)
    return list(session.scalars(query))


@dataclass(frozen=True)
class LoadedDefinition:
    """A definition version with its compiled spec: immutable, so cached for the life of the process."""

    id: str
    key: str
    spec: Any
    subprocess_specs: dict[str, Any]
    properties: dict[str, Any] = field(default_factory=dict)  # the process-level camunda:properties


class DefinitionCache:
    """Compiled specs by definition id: deserialized once per process, shared by all its cases."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, LoadedDefinition] = {}
        self._latest: dict[str, str] = {}  # key -> id of the latest version last read

    def from_row(self, definition: ProcessDefinition) -> LoadedDefinition:
        loaded = self._loaded.get(definition.id)
        if loaded is None:
            spec, subprocess_specs = spec_from_dict(json.loads(definition.spec_json))
            loaded = LoadedDefinition(definition.id, definition.key, spec, subprocess_specs,
                                      dict(definition.properties or {}))
            with self._lock:
                self._loaded[definition.id] = loaded
        return loaded

    def latest_seen(self, key: str) -> LoadedDefinition | None:
        """The version of `key` this process last found to be the latest (a guess: another may be newer)."""
        definition_id = self._latest.get(key)
        return self._loaded.get(definition_id) if definition_id is not None else None

    def saw_latest(self, loaded: LoadedDefinition) -> None:
        self._latest[loaded.key] = loaded.id

    def get(self, session: Session, definition_id: str) -> LoadedDefinition:
        loaded = self._loaded.get(definition_id)
        return loaded if loaded is not None else self.from_row(get_definition(session, definition_id))


definition_cache = DefinitionCache()


# A case start reads which version of its key is the latest on every call: one precompiled statement.
_LATEST_FOR_START = hot_sql.HotStatement(
    select(ProcessDefinition.id, ProcessDefinition.suspended).where(
        ProcessDefinition.key == bindparam("key"),
        ProcessDefinition.version == select(func.max(ProcessDefinition.version))
        .where(ProcessDefinition.key == bindparam("key")).scalar_subquery(),
    )
)


def latest_for_start(session: Session, key: str) -> Callable[[], tuple[LoadedDefinition, bool]]:
    """Send the look-up of the latest version of `key` now; calling the result collects it.

    The answer: the version compiled (from the cache mostly), and whether it is suspended. Meanwhile
    a caller may work on `definition_cache.latest_seen(key)` and keep that work if it is the answer.
    """
    pending = read_ahead.fetch_one_ahead(session, _LATEST_FOR_START, {"key": key})

    def collect() -> tuple[LoadedDefinition, bool]:
        row = pending.row()
        if row is None:
            raise NotFoundError(f"流程定义不存在：{key}", f"No process definition with key {key}", field="key")
        loaded = definition_cache.get(session, row[0])
        definition_cache.saw_latest(loaded)
        return loaded, bool(row[1])

    return collect
