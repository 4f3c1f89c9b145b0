"""The student adapters loaded in this replica's PeftModel: an LRU bounded by count and by bytes.

`resolve(student_id, adapter)` answers with a pinned lease on a resident adapter, loading it from
the AdapterStore first when needed (once, however many requests ask at the same time). Adapters
live in slots of the batcher's AdapterModel, named `slot_NNNNNN` (never a path a user sent). A new
adapter takes a free slot, or the least recently used one when the LRU is full, by a swap (tensors
copied into the slot, no new modules) where the model allows it; else `load_slot` adds a slot and
`delete_slots` removes one. Model changes run on the batcher's thread between forward passes: no
race with a batch.

A pinned slot is never evicted or swapped: when every slot is pinned the LRU grows past its bounds
and shrinks back as leases are released. A student without an adapter, or whose adapter cannot be
fetched or loaded, gets the base model and the reason. Loading a version of a student makes the
student's other versions evictable at once (as soon as nothing pins them). Adapters are known by
version and weights sha256: a student deleted and created again starts at version 1 again, and
must never meet the weights the old version 1 left resident here.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from aivo.adapters.errors import AdapterCorrupt, AdapterNotFound, AdapterStoreUnavailable
from aivo.adapters.layout import checked_student_id
from aivo.adapters.store import AdapterStore, StudentAdapter
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.lora import AdapterWeights, read_adapter
from aivo.observability import (
    ADAPTER_EVICTIONS,
    ADAPTER_LOAD_SECONDS,
    ADAPTER_LOADS,
    ADAPTERS_RESIDENT,
    get_logger,
    log_event,
    pseudonym,
)

log = get_logger("aivo.engine.residency")

STORE_FAILURES = (AdapterNotFound, AdapterCorrupt, AdapterStoreUnavailable)


@dataclass(frozen=True)
class AdapterChoice:
    """What serves a request: `adapter_name` for ContinuousBatcher.submit (None: the base model)."""

    student_id: str
    version: int | None
    adapter_name: str | None
    fallback_reason: str | None = None  # why the student's adapter is not used, when it is not
    weights: str | None = None  # the slot's weights now, for ContinuousBatcher.submit's `weights`


class AdapterLease:
    """A pin on a resident adapter; release it once the request's stream has ended."""

    def __init__(self, choice: AdapterChoice, residency: AdapterResidency | None) -> None:
        self.choice = choice
        self._residency = residency

    def release(self) -> None:
        """Unpin (idempotent): the adapter may be evicted from now on."""
        residency, self._residency = self._residency, None
        if residency is not None and self.choice.adapter_name is not None:
            residency._unpin(self.choice.adapter_name)


@dataclass(eq=False)
class _Slot:
    name: str
    nbytes: int
    shape: AdapterWeights  # what the slot was created from: a swap needs the same layout
    holder: StudentAdapter | None = None  # None: free, its weights are stale
    weights_of: str | None = None  # the student whose weights it holds, held or stale
    placed: int = 0  # when the holder was placed: the latest of a student supersedes the rest
    pins: int = 0
    busy: bool = False  # a swap into it is under way


class _LoadFailed(Exception):
    pass


class AdapterResidency:
    def __init__(
        self,
        store: AdapterStore,
        batcher: ContinuousBatcher,
        cache_dir: Path,
        *,
        max_adapters: int = 32,
        max_bytes: int = 512 * 2**20,
    ) -> None:
        self._store = store
        self._batcher = batcher
        self._cache = Path(cache_dir)  # where fetched adapters wait for PEFT to load them
        self._cache.mkdir(parents=True, exist_ok=True)
        self.max_adapters = max_adapters
        self.max_bytes = max_bytes
        self._slots: OrderedDict[str, _Slot] = OrderedDict()  # least recently used first
        self._holders: dict[StudentAdapter, _Slot] = {}
        self._loading: dict[StudentAdapter, asyncio.Task[None]] = {}
        self._placements = itertools.count(1)
        self._shrinking: set[asyncio.Task[None]] = set()
        # fixed width: PEFT's hot swap finds a slot's tensors by substring of the adapter name
        self._names = (f"slot_{n:06d}" for n in itertools.count())
        model = batcher.loaded.name  # the series exist from the start: rate() sees the first
        for outcome in ("loaded", "failed"):
            ADAPTER_LOADS.labels(model=model, outcome=outcome).inc(0)
        ADAPTER_EVICTIONS.labels(model=model).inc(0)
        self._report_resident()

    async def resolve(self, student_id: str, adapter: StudentAdapter | None = None) -> AdapterLease:
        """A pinned lease on the student's adapter: `adapter` (as the caller read it from the
        store), or the store's live one when None."""
        student_id = checked_student_id(student_id)
        if adapter is None:
            try:
                adapter = await asyncio.to_thread(self._store.live, student_id)
            except STORE_FAILURES as error:
                return self._base(student_id, None, error.message)
            if adapter is None:
                return self._base(student_id, None, "the student has no adapter")
        key, version = adapter, adapter.version
        while (slot := self._holders.get(key)) is None:
            task = self._loading.get(key)
            if task is None:
                task = self._loading[key] = asyncio.create_task(self._load(key))
            try:
                await asyncio.shield(task)  # a caller that gives up must not abandon a load
            except _LoadFailed as error:
                return self._base(student_id, version, str(error))
            # the loop checks again: an eviction may have run between the load and this line
        slot.pins += 1
        self._slots.move_to_end(slot.name)
        weights = f"{key.student_id}/{key.tag}"  # a slot's name outlives the weights it holds
        return AdapterLease(AdapterChoice(student_id, version, slot.name, weights=weights), self)

    @asynccontextmanager
    async def use(
        self, student_id: str, adapter: StudentAdapter | None = None
    ) -> AsyncIterator[AdapterChoice]:
        """`resolve`, then `release` after the block (which runs the request to its end)."""
        lease = await self.resolve(student_id, adapter)
        try:
            yield lease.choice
        finally:
            lease.release()

    def resident(self) -> list[tuple[str, int]]:
        """The (student, version) of the adapters that can serve now, least recently used first."""
        return [
            (slot.holder.student_id, slot.holder.version)
            for slot in self._slots.values()
            if slot.holder is not None
        ]

    @property
    def slots(self) -> int:
        return len(self._slots)

    @property
    def resident_bytes(self) -> int:
        return sum(slot.nbytes for slot in self._slots.values())

    async def wait_idle(self) -> None:
        """Until pending loads and evictions have finished (for shutdown and tests)."""
        while self._loading or self._shrinking:
            tasks = [*self._loading.values(), *self._shrinking]
            await asyncio.gather(*tasks, return_exceptions=True)

    async def drop_deleted(self) -> int:
        """Delete the slots holding weights of students with no adapter in the store any more
        (deleted), held or stale, unless a request is using them (the next check will), and the
        prefix KV their adapters computed; how many slots."""
        reuse = self._batcher.prefix_cache
        students = {slot.weights_of for slot in self._slots.values() if slot.weights_of}
        if reuse is not None:  # blocks outlive slots: their students are checked too
            students |= await self._batcher.run_between_steps(reuse.students)
        gone = set()
        for student_id in students:
            try:
                if await asyncio.to_thread(self._store.live, student_id) is None:
                    gone.add(student_id)
            except STORE_FAILURES:
                continue  # the store is unreachable: check again next time
        victims = [
            slot
            for slot in self._slots.values()
            if slot.weights_of in gone and not slot.pins and not slot.busy
        ]
        if victims:
            await self._delete(victims)
        if reuse is not None:
            for student_id in gone:
                await self._batcher.run_between_steps(partial(reuse.forget, student_id))
        return len(victims)

    # --- loading -------------------------------------------------------------------------------

    def _base(self, student_id: str, version: int | None, reason: str) -> AdapterLease:
        log_event(log, "adapter fallback", student=pseudonym(student_id), reason=reason[:200])
        return AdapterLease(AdapterChoice(student_id, version, None, reason), None)

    async def _load(self, key: StudentAdapter) -> None:
        model = self._batcher.loaded.name
        started = time.perf_counter()
        try:
            staging = Path(await asyncio.to_thread(tempfile.mkdtemp, None, ".fetch-", self._cache))
            try:
                adapter = await asyncio.to_thread(self._fetch, key, staging / "adapter")
                await self._place(key, adapter)
            finally:
                await asyncio.to_thread(shutil.rmtree, staging, True)
        except _LoadFailed:
            ADAPTER_LOADS.labels(model=model, outcome="failed").inc()
            raise
        finally:
            del self._loading[key]
        ADAPTER_LOADS.labels(model=model, outcome="loaded").inc()
        ADAPTER_LOAD_SECONDS.labels(model=model).observe(time.perf_counter() - started)

    async def _place(self, key: StudentAdapter, adapter: AdapterWeights) -> None:
        """Into a slot: swapped into a reusable one, or loaded into a new one."""
        slot = self._swappable(adapter)
        if slot is None:
            slot = await self._new_slot(adapter)
        else:
            await self._swap(slot, adapter)
        slot.holder, slot.placed = key, next(self._placements)
        slot.weights_of = key.student_id
        self._holders[key] = slot
        self._report_resident()
        self._slots.move_to_end(slot.name)
        for other, held in list(self._holders.items()):
            if other.student_id == key.student_id and held is not slot and not held.pins:
                self._free(held)
        log_event(log, "adapter loaded", student=pseudonym(key.student_id), version=key.version)
        self._shrink_soon(keep=slot)

    def _fetch(self, key: StudentAdapter, folder: Path) -> AdapterWeights:
        """Off the event loop: the verified files from the store, read as a PEFT adapter."""
        try:
            fetched = self._store.fetch(key.student_id, folder, key.version)
        except STORE_FAILURES as error:
            raise _LoadFailed(error.message) from error
        if fetched.adapter != key:
            raise _LoadFailed("the student's adapter was replaced while it loaded")
        try:
            return read_adapter(folder)
        except Exception as error:  # anything PEFT or safetensors say about the files
            raise _LoadFailed(_peft_failure(error)) from error

    def _swappable(self, adapter: AdapterWeights) -> _Slot | None:
        """A free slot, else the least recently used one when the LRU is full; same layout only."""
        candidates = [
            s
            for s in self._slots.values()
            if not s.pins and not s.busy and self._batcher.model.can_swap(adapter, s.shape)
        ]
        free = [s for s in candidates if s.holder is None]
        if free:
            return free[0]
        full = len(self._slots) >= self.max_adapters
        if candidates and (full or self.resident_bytes + candidates[0].nbytes > self.max_bytes):
            return candidates[0]
        return None

    async def _new_slot(self, adapter: AdapterWeights) -> _Slot:
        name = next(self._names)
        model = self._batcher.model
        try:
            nbytes = await self._batcher.run_between_steps(lambda: model.load_slot(name, adapter))
        except Exception as error:
            raise _LoadFailed(_peft_failure(error)) from error
        slot = _Slot(name, nbytes, adapter)
        self._slots[name] = slot
        if nbytes > self.max_bytes:
            await self._delete([slot])
            raise _LoadFailed(f"the adapter ({nbytes} bytes) exceeds the residency budget")
        return slot

    async def _swap(self, slot: _Slot, adapter: AdapterWeights) -> None:
        self._free(slot)  # whoever held it is evicted; nobody can pin it from here on
        slot.busy = True
        model = self._batcher.model
        try:
            await self._batcher.run_between_steps(lambda: model.swap_slot(slot.name, adapter))
        except Exception as error:
            await self._delete([slot])  # its weights may be half swapped
            raise _LoadFailed(_peft_failure(error)) from error
        finally:
            slot.busy = False

    # --- eviction ----------------------------------------------------------------------------

    def _free(self, slot: _Slot) -> None:
        if slot.holder is not None:
            del self._holders[slot.holder]
            slot.holder = None
            ADAPTER_EVICTIONS.labels(model=self._batcher.loaded.name).inc()
            self._report_resident()

    def _report_resident(self) -> None:
        ADAPTERS_RESIDENT.labels(model=self._batcher.loaded.name).set(len(self._holders))

    def _unpin(self, name: str) -> None:
        slot = self._slots.get(name)
        if slot is None:
            return
        slot.pins -= 1
        if slot.pins or slot.holder is None:
            return
        student_id = slot.holder.student_id
        if any(
            other.student_id == student_id and held.placed > slot.placed
            for other, held in self._holders.items()
        ):
            self._free(slot)  # a later adapter of the student is resident
        self._shrink_soon()

    def _shrink_soon(self, keep: _Slot | None = None) -> None:
        if len(self._slots) > self.max_adapters or self.resident_bytes > self.max_bytes:
            task = asyncio.get_running_loop().create_task(self._shrink(keep))
            self._shrinking.add(task)
            task.add_done_callback(self._shrinking.discard)

    async def _shrink(self, keep: _Slot | None = None) -> None:
        """Delete free slots, then the least recently used, while over the bounds; never pinned."""
        idle = [s for s in self._slots.values() if not s.pins and not s.busy and s is not keep]
        victims = []
        count, nbytes = len(self._slots), self.resident_bytes
        for slot in sorted(idle, key=lambda s: s.holder is not None):  # stable: LRU order kept
            if count <= self.max_adapters and nbytes <= self.max_bytes:
                break
            victims.append(slot)
            count, nbytes = count - 1, nbytes - slot.nbytes
        if victims:
            await self._delete(victims)

    async def _delete(self, slots: list[_Slot]) -> None:
        for slot in slots:
            self._free(slot)
            del self._slots[slot.name]  # before the await: nobody can pin or reuse it any more
        names = [slot.name for slot in slots]
        model = self._batcher.model
        await self._batcher.run_between_steps(lambda: model.delete_slots(names))


def _peft_failure(error: Exception) -> str:
    return f"PEFT could not load the adapter: {type(error).__name__}: {error}"[:300]
