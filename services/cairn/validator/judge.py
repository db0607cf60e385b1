"""The composition root of a judgement: every check of one version, built-in and custom.

`Judge` takes its adapters as arguments (blob store, a link reader, an HTTP client, the
installed plugins), so unit tests pass fakes. A check that crashes becomes a failed verdict
for that check; only an outage of an adapter (PostgreSQL) propagates, so the batch is
retried instead of judged on missing facts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cairn.core.adapters.blobstore import BlobStore
from cairn.core.domain.event_types import Published, VersionState
from cairn.validator import hooks
from cairn.validator.checks import (
    FAILED,
    Outcome,
    completeness,
    files,
    license,
    lineage,
    naming,
    required,
)
from cairn.validator.checks import schema as schema_check
from cairn.validator.rules import ConfigError, Rules, load_rules, load_schema

LinkReader = Callable[[str, str, str], Awaitable[list[lineage.LinkTarget]]]


@dataclass
class Judge:
    validation_dir: Path
    blobs: BlobStore
    links: LinkReader  # (project, name, digest) → the version's links to other artifacts
    http: httpx.AsyncClient
    allow_private_hooks: bool = False
    plugins: Sequence[tuple[str, hooks.Plugin | Exception]] = field(default_factory=list)
    hook_backoff: float = 0.5

    async def judge(self, state: VersionState) -> list[Outcome]:
        """One Outcome per check, in a stable order: built-ins, hooks, plugins."""
        return (await self.judge_all([state]))[0]

    async def judge_all(self, states: Sequence[VersionState]) -> list[list[Outcome]]:
        """Each state's outcomes, one after another as `judge` gives them; the blob reads of
        the files check run in one thread for all of them (a thread hop per version was a
        tenth of a judgement's CPU)."""
        found = await asyncio.to_thread(lambda: [
            _guarded(files.CHECK, files.check, s["content"]["files"], self.blobs)
            for s in states])
        return [await self._judge(state, checked) for state, checked in zip(states, found,
                                                                             strict=True)]

    async def _judge(self, state: VersionState, files_outcome: Outcome) -> list[Outcome]:
        content = state["content"]
        project, kind, meta = content["project"], content["kind"], content["metadata"]
        outcomes: list[Outcome] = []
        try:
            rules = load_rules(self.validation_dir, project)
        except ConfigError as exc:
            outcomes.append(Outcome("config", FAILED, (f"config: {exc}",)))
            rules = Rules(project)
        outcomes.append(self._schema(rules, content))
        outcomes += [
            _guarded(naming.CHECK, naming.check, content["name"], project, kind, rules.patterns),
            _guarded(required.CHECK, required.check, kind, meta, content["links"]),
            _guarded(license.CHECK, license.check, meta.get("license")),
            files_outcome,
            _guarded(lineage.CHECK, lineage.check,
                     await self.links(project, content["name"], content["digest"])),
            _guarded(completeness.CHECK, completeness.check, kind, meta),
        ]
        outcomes += await asyncio.gather(*(
            hooks.call_hook(self.http, hook, state, allow_private=self.allow_private_hooks,
                            backoff=self.hook_backoff) for hook in rules.hooks))
        for name, plugin in self.plugins:
            outcomes.append(await asyncio.to_thread(hooks.run_plugin, name, plugin, state))
        return outcomes

    def _schema(self, rules: Rules, content: Published) -> Outcome:
        try:
            loaded, source = load_schema(self.validation_dir, rules, content["kind"])
        except ConfigError as exc:
            return Outcome(schema_check.CHECK, FAILED, (f"schema: {exc}",))
        return _guarded(schema_check.CHECK, schema_check.check, content, loaded, source)


def _guarded(check: str, fn: Callable[..., Outcome], *args: Any) -> Outcome:
    try:
        return fn(*args)
    except Exception as exc:  # a bug or odd input must not stall the stream: report it
        return Outcome(check, FAILED, (f"{check}: the check crashed: {exc!r}",))
