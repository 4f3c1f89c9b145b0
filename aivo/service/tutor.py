"""The tutor service: what every route of the API does, in plain Python (the Ingress deployment
only wires it to Serve's handles).

A request is admitted (caps, rate limits, the student's live adapter, its cache key), then
answered through the one cache-aside path: streamed or not, a miss runs in the single flight
of its key and its answer is stored for both.

Every call acts for one tenant (`aivo.tenancy`): a student id from a key becomes its tenant's
owned id here, and only here, so another tenant's students are ids that do not exist.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from aivo.adapters import AdapterNotFound, AdapterStore, Manifest, StudentAdapter, open_store
from aivo.cache import CacheAside, CachedAnswer, ResponseCache, cache_key, is_cacheable, make_cache
from aivo.config import AppConfig
from aivo.curriculum.key_ideas import library_digest
from aivo.curriculum.prepared import PROMPT_VERSION, PreparedPrompt
from aivo.curriculum.prompting import Messages
from aivo.curriculum.readability import reading_steer
from aivo.engine.generation import Generation
from aivo.engine.sampling import request_params
from aivo.errors import AivoError, InvalidRequest, NotFound, ServiceUnavailable
from aivo.observability import FALLBACK_ANSWERS, GENERATED_TOKENS
from aivo.safety.pii import StreamRedactor
from aivo.schemas import (
    AdapterInfo,
    AdapterRef,
    CloneJob,
    CloneRequest,
    FinishReason,
    GenerateRequest,
    GenerateResponse,
    InvalidateRequest,
    JobReport,
    StudentDeletion,
    StudentPage,
    StudentSummary,
    Usage,
    grade_number,
)
from aivo.security.keys import Principal
from aivo.security.limits import RateLimiter, Reservation
from aivo.service.answering import ReplicaItem, TutoredAnswer, answer
from aivo.service.deletion import erase_student
from aivo.service.protocols import CloneJobs, Inference, Preprocessor
from aivo.service.streams import StreamSlots, event
from aivo.tenancy import owned_id, tenant_prefix

READY_TIMEOUT_S = 3.0
# An answer that is not streamed is written again once if the inference replica dies under it.
ANSWER_ATTEMPTS = 2

OnChunk = Callable[[str], None]


@dataclass(frozen=True)
class Admitted:
    """A request past its checks: the adapter version to serve and its cache key (if any)."""

    request: GenerateRequest
    tenant: str
    adapter: StudentAdapter | None  # the student's live adapter, read for this request
    key: str | None
    started: float
    admitted_at: float  # Unix time, before the adapter was read: what a tombstone is held to
    reservation: Reservation  # the request's max_tokens, held until it settles

    @property
    def student_id(self) -> str | None:
        """The owned id of the student whose adapter serves; None when the base model does."""
        return self.adapter.student_id if self.adapter is not None else None


@dataclass
class TokenMeter:
    """Tokens the model has generated for one request so far (what a dropped stream used)."""

    tokens: int = 0

    def used(self, answer: CachedAnswer | None, cached: bool) -> int:
        """What the request is charged: nothing for a cache hit, its answer's tokens, or (no
        answer: failed or dropped) the tokens generated until then."""
        if cached:
            return 0
        return answer.usage.completion_tokens if answer is not None else self.tokens


class TutorService:
    def __init__(
        self,
        config: AppConfig,
        *,
        preprocessor: Preprocessor,
        inference: Inference,
        clones: CloneJobs,
        cache: ResponseCache | None = None,
        adapters: AdapterStore | None = None,
        limits: RateLimiter | None = None,
    ) -> None:
        self.config = config
        self.preprocessor = preprocessor
        self.inference = inference
        self.clones = clones
        self.cache = cache if cache is not None else make_cache(config.cache)
        self.answers = CacheAside(self.cache)
        self.adapters = adapters if adapters is not None else open_store(config.storage)
        self.limits = limits or RateLimiter(config.security, config.cache)
        self.streams = StreamSlots(config.security.max_concurrent_streams)
        self._settling: set[asyncio.Task[None]] = set()

    async def generate(
        self, request: GenerateRequest, request_id: str, principal: Principal
    ) -> GenerateResponse:
        admitted = await self._admit(request, principal)
        meter, answered = TokenMeter(), None
        try:
            answered = await self.answers.get_or_generate(
                admitted.key, lambda: self._generate(admitted, None, None, meter)
            )
            if not answered[1]:
                await self._unless_deleted(admitted)
        finally:
            self._settle(admitted.reservation, meter.used(*answered or (None, False)))
        return self._response(admitted, *answered, request_id)

    async def stream(
        self, request: GenerateRequest, request_id: str, principal: Principal
    ) -> AsyncIterator[str]:
        """Checks run before the first byte (so they answer with a status code); then SSE
        events: `chunk` per text piece, then `done` with the full response, or `error`."""
        release = self.streams.take(principal.tenant)
        admitted = None
        try:
            admitted = await self._admit(request, principal)
            hit = await self.answers.lookup(admitted.key)
            prepared = None if hit else await self.preprocessor.prepare(admitted.request)
        except BaseException:
            release()
            if admitted is not None:
                self._settle(admitted.reservation, 0)
            raise
        events = self._events(admitted, hit, prepared, request_id, release)
        # a body that never starts still frees its slot and its reservation
        weakref.finalize(events, release)
        weakref.finalize(events, self._settle, admitted.reservation, 0)
        return events

    async def _events(
        self,
        admitted: Admitted,
        hit: CachedAnswer | None,
        prepared: PreparedPrompt | None,
        request_id: str,
        release: Callable[[], None],
    ) -> AsyncIterator[str]:
        meter, answer, cached = TokenMeter(), hit, hit is not None
        try:
            streamed = False
            if answer is None:
                # The generation may be another request's (same key): then no chunk arrives here.
                chunks: asyncio.Queue[str | CachedAnswer | Exception] = asyncio.Queue()
                filling = asyncio.create_task(self._fill(admitted, prepared, chunks, meter))
                redactor = StreamRedactor()  # personal data never streams, even in part
                try:
                    while not isinstance(item := await chunks.get(), CachedAnswer):
                        if isinstance(item, Exception):
                            raise item
                        streamed = True
                        if text := redactor.feed(item):
                            yield event("chunk", {"text": text})
                finally:
                    filling.cancel()  # a client that leaves gives up its share of the flight
                answer = item
                if text := redactor.close():
                    yield event("chunk", {"text": text})
            if not streamed:
                yield event("chunk", {"text": answer.text})
            elif answer.finish_reason == "content_filter":  # what was sent is replaced
                yield event("replace", {"text": answer.text})
            response = self._response(admitted, answer, cached, request_id)
            yield event("done", response.model_dump())
        except AivoError as error:
            yield event("error", {"error": {"code": error.code, "message": error.message}})
        finally:
            release()
            self._settle(admitted.reservation, meter.used(answer, cached))

    def _settle(self, reservation: Reservation, used: int) -> None:
        """Settles in a task of its own: a dropped stream's cleanup is being cancelled."""
        if reservation.settled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # collected outside the loop: the reservation stays charged
            return
        task = loop.create_task(reservation.settle(used))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _fill(
        self,
        admitted: Admitted,
        prepared: PreparedPrompt | None,
        out: asyncio.Queue[str | CachedAnswer | Exception],
        meter: TokenMeter,
    ) -> None:
        """Chunks into `out` as they are generated, then the answer (or the error)."""
        try:
            answer = await self.answers.fill(
                admitted.key, lambda: self._generate(admitted, prepared, out.put_nowait, meter)
            )
            await self._unless_deleted(admitted)
            out.put_nowait(answer)
        except Exception as error:  # the reader re-raises it; a task's error would go unseen
            out.put_nowait(error)

    async def _unless_deleted(self, admitted: Admitted) -> None:
        """A student deleted while their answer was generated: the deletion may have emptied
        their cache before this answer was stored, so empty it again (the tombstone says)."""
        if admitted.key is None or admitted.request.student_id is None:
            return
        student_id = owned_id(admitted.tenant, admitted.request.student_id)
        deleted = await asyncio.to_thread(
            self.adapters.deleted_since, student_id, admitted.admitted_at
        )
        if deleted:
            await self.cache.invalidate_student(student_id)

    async def _admit(self, request: GenerateRequest, principal: Principal) -> Admitted:
        started, admitted_at = time.perf_counter(), time.time()
        request = self._within_caps(request)
        reservation = await self.limits.admit(principal, request.max_tokens)
        try:
            return await self._admitted(
                request, principal.tenant, reservation, started, admitted_at
            )
        except BaseException:
            self._settle(reservation, 0)
            raise

    async def _admitted(
        self,
        request: GenerateRequest,
        tenant: str,
        reservation: Reservation,
        started: float,
        admitted_at: float,
    ) -> Admitted:
        adapter = None
        if request.student_id is not None:  # read fresh: a new version must never meet old answers
            student = owned_id(tenant, request.student_id)
            adapter = await asyncio.to_thread(self.adapters.live, student)
        key = None
        if is_cacheable(request, self.config.cache):
            key = cache_key(
                request,
                tenant=tenant,
                model=self.config.engine.models[0].name,
                prompt_version=f"{PROMPT_VERSION}-{library_digest()}",
                adapter=adapter.tag if adapter else None,
            )
        return Admitted(request, tenant, adapter, key, started, admitted_at, reservation)

    def _within_caps(self, request: GenerateRequest) -> GenerateRequest:
        """The request, its default max_tokens lowered to this deployment's cap; InvalidRequest
        for a value over a cap."""
        caps = self.config.security
        if "max_tokens" not in request.model_fields_set and request.max_tokens > caps.max_tokens:
            return self._within_caps(request.model_copy(update={"max_tokens": caps.max_tokens}))
        if request.max_tokens > caps.max_tokens:
            raise InvalidRequest(f"max_tokens: this deployment allows at most {caps.max_tokens}")
        if len(request.prompt) > caps.max_prompt_chars:
            raise InvalidRequest(
                f"prompt: this deployment allows at most {caps.max_prompt_chars} characters"
            )
        return request

    async def _generate(
        self,
        admitted: Admitted,
        prepared: PreparedPrompt | None,
        on_chunk: OnChunk | None,
        meter: TokenMeter,
    ) -> CachedAnswer:
        """One answer: prepared (unless it was), written by the model through the answering
        loop's checks, finished. `on_chunk` None: not streamed; else it gets the text that
        passed the checks as it comes."""
        request = admitted.request
        if prepared is None:
            prepared = await self.preprocessor.prepare(request)

        params = request_params(request, self.config.engine)
        if self.config.tutoring.checks and prepared.plan is None:  # an explanation: steered
            grade = grade_number(request.grade_level)  # toward the learner's reading band
            params = dataclasses.replace(params, **reading_steer(grade))

        async def generate(messages: Messages, max_tokens: int) -> AsyncIterator[ReplicaItem]:
            stream = self.inference.stream(
                messages,
                dataclasses.replace(params, max_tokens=max_tokens),
                admitted.student_id,
                admitted.adapter,
            )
            try:
                async for item in stream:
                    meter.tokens += isinstance(item, str)  # a replica sends a token a chunk
                    yield item
            finally:
                await stream.aclose()  # type: ignore[attr-defined]

        checks = self.config.tutoring.checks
        # vetted text answers, unless a student's own adapter is to write (from the text in its
        # notes) or the request's stop strings shape a generation
        vetted = admitted.adapter is None and not request.stop

        async def tutor() -> TutoredAnswer:
            tutored = None
            loop = answer(
                prepared.prompt,
                prepared.plan,
                generate,
                request.max_tokens,
                checks=checks,
                grounding=prepared.grounding if vetted else None,
                numbers_from=prepared.numbers_from,
            )
            async for item in loop:
                if isinstance(item, TutoredAnswer):
                    tutored = item
                elif on_chunk is not None:
                    on_chunk(item)
            if tutored is None:
                raise AssertionError("the answering loop always ends with its answer")
            return tutored

        for attempt in range(ANSWER_ATTEMPTS):
            try:
                tutored = await tutor()
                break
            except ServiceUnavailable:
                # The inference replica died while it wrote. Nothing of an answer that is not
                # streamed has reached the learner: it is answered again, from the start, by a
                # live replica (Serve's router holds the call until one takes it).
                if on_chunk is not None or attempt + 1 == ANSWER_ATTEMPTS:
                    raise
        generation = tutored.generation
        finished = await self.preprocessor.finish(request, tutored.text)
        GENERATED_TOKENS.labels(tenant=admitted.tenant).inc(generation.completion.completion_tokens)
        if generation.fallback_used:
            FALLBACK_ANSWERS.inc()
        return CachedAnswer(
            text=finished.text,
            model=generation.model,
            adapter_version=generation.adapter_version,
            adapter_note=generation.adapter_note,
            fallback_used=generation.fallback_used,
            standards=prepared.standards,
            reading_level=finished.reading_level,
            verification=tutored.verification,
            key_idea=prepared.grounding.idea if prepared.grounding else None,
            usage=Usage(
                prompt_tokens=generation.completion.prompt_tokens,
                completion_tokens=generation.completion.completion_tokens,
            ),
            finish_reason=_finish_reason(finished.replaced_unsafe, generation),
        )

    def _response(
        self, admitted: Admitted, answer: CachedAnswer, cached: bool, request_id: str
    ) -> GenerateResponse:
        student_id, version = admitted.request.student_id, answer.adapter_version
        return GenerateResponse(
            id=request_id,
            cached=cached,
            adapter=AdapterRef(student_id=student_id, version=version)
            if student_id is not None and version is not None
            else None,
            latency_ms=round((time.perf_counter() - admitted.started) * 1000, 2),
            **answer.model_dump(exclude={"adapter_version"}),
        )

    async def count_request(self, principal: Principal) -> None:
        """Counts a request that generates nothing against the key's requests per minute."""
        await self.limits.admit(principal)

    async def readiness(self) -> dict[str, object]:
        try:  # while a replica restarts, calls wait until one is up: do not wait
            async with asyncio.timeout(READY_TIMEOUT_S):
                inference = await self.inference.status()
        except (TimeoutError, ServiceUnavailable):
            inference = {"ready": False, "reason": "no inference replica answers (restarting?)"}
        # A degraded cache costs latency, not answers: the service stays ready.
        return {
            "ready": bool(inference["ready"]),
            "cache": self.cache.state,
            "inference": inference,
        }

    async def invalidate_cache(self, tenant: str, target: InvalidateRequest) -> int:
        if target.student_id is not None:
            return await self.cache.invalidate_student(owned_id(tenant, target.student_id))
        return await self.cache.invalidate_tenant(tenant)

    async def delete_student(self, tenant: str, student_id: str) -> StudentDeletion:
        deletion = await erase_student(
            owned_id(tenant, student_id),
            adapters=self.adapters,
            clones=self.clones,
            cache=self.cache,
        )
        return StudentDeletion(student_id=student_id, removed=deletion.removed)

    async def clone(self, tenant: str, student_id: str, request: CloneRequest) -> CloneJob:
        if len(request.examples) > self.config.clone.max_examples:
            raise InvalidRequest(f"examples: at most {self.config.clone.max_examples}")
        dataset = "\n".join(json.dumps(line) for line in request.examples).encode()
        job = await self.clones.clone(owned_id(tenant, student_id), dataset)
        return job.model_copy(update={"student_id": student_id})

    async def job(self, tenant: str, job_id: str) -> JobReport:
        """The tenant's clone job; another tenant's answers as an unknown id (the coordinator
        looks it up either way)."""
        report = await self.clones.job(job_id, tenant)
        if report.results is None:
            return report
        prefix = tenant_prefix(tenant)
        results = [
            {**result, "student_id": result["student_id"].removeprefix(prefix)}
            for result in report.results
        ]
        return report.model_copy(update={"results": results})

    async def adapter(self, tenant: str, student_id: str) -> AdapterInfo:
        return await asyncio.to_thread(self._adapter_info, tenant, student_id)

    def _adapter_info(self, tenant: str, student_id: str) -> AdapterInfo:
        student = owned_id(tenant, student_id)
        manifest = self.adapters.manifest(student)
        if manifest is None:
            raise NotFound(f"student {student_id} has no adapter")
        return AdapterInfo(
            student_id=student_id,
            live_version=manifest.live_version,
            versions=manifest.version_numbers,
            metadata=self.adapters.metadata(student),
        )

    async def rollback(self, tenant: str, student_id: str, version: int) -> AdapterInfo:
        try:
            await asyncio.to_thread(self.adapters.rollback, owned_id(tenant, student_id), version)
        except AdapterNotFound:  # its message names the owned id: name the caller's
            raise AdapterNotFound(
                f"student {student_id} has no adapter version {version}"
            ) from None
        return await self.adapter(tenant, student_id)

    async def students(self, tenant: str, after: str | None, limit: int) -> StudentPage:
        """A page of the tenant's students with a live adapter, after the student id `after`."""
        return await asyncio.to_thread(self._student_page, tenant, after, limit)

    def _student_page(self, tenant: str, after: str | None, limit: int) -> StudentPage:
        page: list[StudentSummary] = []
        for student_id, manifest in self._manifests(tenant, after, limit + 1):
            if len(page) == limit:
                return StudentPage(students=page, next_after=page[-1].student_id)
            summary = StudentSummary(
                student_id=student_id,
                live_version=manifest.live_version,
                versions=manifest.version_numbers,
            )
            page.append(summary)
        return StudentPage(students=page)

    async def student_model(self, tenant: str, student_id: str) -> Manifest | None:
        """The manifest of the tenant's student's adapter; None when the student has none."""
        return await asyncio.to_thread(self.adapters.manifest, owned_id(tenant, student_id))

    async def student_models(self, tenant: str) -> list[tuple[str, Manifest]]:
        """Each of the tenant's students with an adapter, by student id, with its manifest."""
        return await asyncio.to_thread(lambda: list(self._manifests(tenant)))

    def _manifests(
        self, tenant: str, after: str | None = None, limit: int | None = None
    ) -> Iterator[tuple[str, Manifest]]:
        """The tenant's students after `after` (by id) with their manifest, `limit` at most."""
        prefix, found = tenant_prefix(tenant), 0
        for student in self.adapters.students(prefix):
            student_id = student.removeprefix(prefix)
            if after is not None and student_id <= after:
                continue
            if found == limit:
                return
            manifest = self.adapters.manifest(student)
            if manifest is not None:  # none: deleted since the listing, or mid-publish
                found += 1
                yield student_id, manifest


def _finish_reason(replaced_unsafe: bool, generation: Generation) -> FinishReason:
    if replaced_unsafe:
        return "content_filter"
    return "length" if generation.completion.finish_reason == "length" else "stop"
