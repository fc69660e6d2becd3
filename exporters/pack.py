"""``pack``: sources → a signed BagIt bag, streaming, in parallel, resumable.

The flow is one-way: parse everything first (so a typo fails before a byte is copied), open or
resume the destination's journal, run the sources' tasks on worker threads that walk the sources
lazily (memory stays flat however many files; see :mod:`exporters.scheduling`), then render the
tag files from the records, sign the tag manifest, and only at the very end delete the journal.
A crash anywhere before that leaves a journal a rerun picks up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exporters import bag
from exporters.destinations import Destination, open_destination
from exporters.errors import InputError
from exporters.journal import Journal, Record
from exporters.paths import safe_segment
from exporters.placement import check_out
from exporters.redact import Redactor, redact_url
from exporters.scheduling import Cancelled, run_tasks
from exporters.signing import SigningKey, sign
from exporters.sources import Skipped, Source, open_source
from exporters.streaming import HashingWriter, deferred_file, pipelined, settle_deferred


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays; totals are ``None`` until known."""

    files_done: int
    bytes_done: int
    files_total: int | None
    bytes_total: int | None
    elapsed: float
    finished: bool = False


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PackResult:
    bag: str
    name: str
    files: int
    bytes: int
    payload_oxum: str
    tagmanifest_sha256: str
    manifest: list[ManifestEntry]
    envelope: dict[str, Any] | None
    envelope_location: str | None
    key_id: str | None
    tar: str | None
    tar_sha256: str | None
    copied_files: int
    reused_files: int
    resumed: bool
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def signed(self) -> bool:
        return self.envelope is not None


# A durable destination journals committed files in batches: one ``syncfs`` + one journal fsync
# per batch instead of two fsyncs (and two disk cache flushes) per file. A batch is flushed once
# it is this old or this large, so a crash costs at most about this much redone work.
BATCH_SECONDS = 1.0
BATCH_BYTES = 256 << 20
BATCH_FILES = 2000


class _Engine:
    """The :class:`~exporters.sources.Sink` shared by all workers: journal, records, counters."""

    def __init__(self, destination: Destination, journal: Journal) -> None:
        self._destination = destination
        self._journal = journal
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._batched = destination.needs_sync
        self._pending: list[Record] = []
        self._pending_bytes = 0
        self._batch_started = time.monotonic()
        self.records: dict[str, Record] = {}
        self.skipped: list[Skipped] = []
        self.files_done = 0
        self.bytes_done = 0
        self.copied = 0
        self.reused = 0
        self.stop = threading.Event()

    def _add(self, record: Record) -> None:
        if record.path in self.records:
            raise InputError(f"two sources produce the same payload path {record.path!r}")
        self.records[record.path] = record
        self.files_done += 1

    def completed(self, path: str, identity: str) -> Record | None:
        return self._journal.completed(path, identity)

    def reuse(self, record: Record) -> None:
        with self._lock:
            self._add(record)
            self.reused += 1
            self.bytes_done += record.size

    def _count(self, size: int) -> None:
        if self.stop.is_set():
            raise Cancelled
        with self._lock:
            self.bytes_done += size

    def open(self, path: str) -> HashingWriter:
        if self.stop.is_set():
            raise Cancelled
        return HashingWriter(self._destination.open_writer(path), on_bytes=self._count)

    def commit(
        self, writer: HashingWriter, path: str, identity: str, meta: dict[str, Any] | None = None
    ) -> Record:
        writer.commit()
        record = Record(path, writer.size, writer.sha256, identity, meta or {})
        with self._lock:
            self._add(record)
            self.copied += 1
            if not self._pending:
                self._batch_started = time.monotonic()
            self._pending.append(record)
            self._pending_bytes += record.size
            due = (
                not self._batched
                or self._pending_bytes >= BATCH_BYTES
                or len(self._pending) >= BATCH_FILES
                or time.monotonic() - self._batch_started >= BATCH_SECONDS
            )
        if due:
            self.flush(wait=not self._batched)
        return record

    def flush(self, wait: bool = True) -> None:
        """Make the committed files durable, then journal them: the journal never gets ahead.

        One thread flushes at a time; with ``wait=False`` a worker that finds a flush under way
        goes back to copying (the running flush or the next one picks its records up).
        """
        if not self._flush_lock.acquire(blocking=wait):
            return
        try:
            with self._lock:
                batch, self._pending, self._pending_bytes = self._pending, [], 0
            if not batch:
                return
            self._destination.sync([record.path for record in batch])
            for record in batch:
                self._journal.append(record)
            self._journal.sync()
        finally:
            self._flush_lock.release()

    def run(self, task: Any) -> None:
        earlier = deferred_file()
        task.run(self)
        if earlier is not None and deferred_file() is earlier:
            # This task deferred no file of its own (a small file, a reused one, SQL rows):
            # the earlier file must not wait, uncommitted, for however long the next ones take.
            settle_deferred()

    def skip(self, item: Skipped) -> None:
        with self._lock:
            self.skipped.append(item)


def _fingerprint(
    sources: Sequence[str],
    client: str,
    case_id: str,
    organization: str,
    contract: str | None,
    key_id: str | None,
) -> str:
    # Redacted URLs: a rotated password must not prevent resuming, and no secret is stored.
    # The key id is included so a resumed bag can never keep a signature by another key.
    data = [[redact_url(s) for s in sources], client, case_id, organization, contract, key_id]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()


def _write_small(destination: Destination, relpath: str, data: bytes) -> None:
    writer = destination.open_writer(relpath)
    try:
        writer.write(data)
    except BaseException:
        writer.abort()
        raise
    writer.commit()


def _write_sibling(destination: Destination, suffix: str, data: bytes) -> None:
    writer = destination.open_sibling_writer(suffix)
    writer.write(data)
    writer.commit()


def open_sources(urls: Sequence[str], client: str, workers: int = 2) -> list[Source]:
    """Parse every source URL up front and make sure their payload folders do not collide."""
    if not urls:
        raise InputError("give at least one --source")
    sources = [open_source(url, client, workers=workers) for url in urls]
    seen: dict[tuple[str, str], str] = {}
    for source in sources:
        key = (source.kind, source.name)
        if key in seen:
            raise InputError(
                f"sources {seen[key]} and {source.display} would both write data/{key[0]}/"
                f"{key[1]}/; name one with a URL fragment, e.g. #{key[1]}-2"
            )
        seen[key] = source.display
    return sources


def pack(
    sources: Sequence[str],
    out: str,
    *,
    client: str,
    case_id: str = "",
    organization: str = "",
    contract: str | None = None,
    signing_key: SigningKey | None = None,
    workers: int = 2,
    progress: Callable[[Progress], None] | None = None,
    tar: bool = False,
    part_size: int | None = None,
    created: datetime | None = None,
    durable: bool = True,
) -> PackResult:
    """Export ``sources`` for ``client`` into a BagIt bag at ``out`` (directory or s3:// URL).

    Rerunning with the same arguments after a crash resumes from the destination's journal.
    ``durable=True`` (the default) makes finished files survive a power cut before journaling
    them, in batches (one ``syncfs`` and one journal fsync about every second, not per file).
    ``durable=False`` skips every fsync on a local destination: resuming still works after the
    process is killed (the page cache survives), not after a power cut.
    Raises :class:`~exporters.errors.InputError` for unusable arguments; error texts never carry
    credentials from the URLs.
    """
    redactor = Redactor()
    for url in sources:
        redactor.add_url(url)
    redactor.add_url(out)
    try:
        return _pack(
            sources,
            out,
            client=client,
            case_id=case_id,
            organization=organization,
            contract=contract,
            signing_key=signing_key,
            workers=workers,
            progress=progress,
            tar=tar,
            part_size=part_size,
            created=created,
            durable=durable,
        )
    except InputError as exc:
        raise type(exc)(redactor(str(exc))) from None


def _pack(
    sources: Sequence[str],
    out: str,
    *,
    client: str,
    case_id: str,
    organization: str,
    contract: str | None,
    signing_key: SigningKey | None,
    workers: int,
    progress: Callable[[Progress], None] | None,
    tar: bool,
    part_size: int | None,
    created: datetime | None,
    durable: bool,
) -> PackResult:
    if client:
        safe_segment(client, what="client id")
    if workers < 1 or workers > 32:
        raise InputError("workers must be between 1 and 32")
    for label, value in (
        ("case id", case_id),
        ("organization", organization),
        ("contract", contract or ""),
    ):
        bag.check_metadata_value(label, value)
    opened = open_sources(sources, client, workers)
    destination = open_destination(out, part_size=part_size, workers=workers, durable=durable)
    check_out(destination, opened)  # before ``exclusive`` creates the bag directory
    # Held until the bag is finished or the run fails: one run per bag (see ``exclusive``).
    with destination.exclusive():
        key_id = signing_key.keyid if signing_key is not None else None
        fingerprint = _fingerprint(sources, client, case_id, organization, contract, key_id)

        state = destination.state()
        if state == "complete":
            raise InputError(
                f"{destination.describe()} already holds a finished bag; choose another --out"
            )
        if state == "occupied":
            raise InputError(
                f"{destination.describe()} is not empty and holds no unfinished export; "
                "choose an empty or new --out"
            )
        resumed = state == "resume"
        if resumed:
            journal = Journal.resume(destination, fingerprint)
            destination.prepare()
        else:
            destination.prepare()
            journal = Journal.start(destination, fingerprint, created or datetime.now(UTC))

        engine = _Engine(destination, journal)
        started = time.monotonic()
        files_total = bytes_total = None
        if progress is not None:
            files_total = bytes_total = 0
            for source in opened:
                count, size = source.scan()
                files_total += count
                bytes_total += size

        def report(finished: bool = False) -> None:
            if progress is not None:
                progress(
                    Progress(
                        engine.files_done,
                        engine.bytes_done,
                        files_total,
                        bytes_total,
                        time.monotonic() - started,
                        finished,
                    )
                )

        try:
            tasks = (task for source in opened for task in source.tasks(engine))
            run_tasks(tasks, engine.run, workers, engine.stop, report, pipelined)
        except BaseException:
            # Journal the files finished before the failure, so the rerun keeps them.
            with contextlib.suppress(Exception):
                engine.flush()
            raise
        engine.flush()
        report(finished=True)
        return _finish(
            destination,
            journal,
            engine,
            client,
            case_id,
            organization,
            contract,
            signing_key,
            tar,
            resumed,
        )


def _finish(
    destination: Destination,
    journal: Journal,
    engine: _Engine,
    client: str,
    case_id: str,
    organization: str,
    contract: str | None,
    signing_key: SigningKey | None,
    tar: bool,
    resumed: bool,
) -> PackResult:
    records = sorted(engine.records.values(), key=lambda r: r.path)
    meta = bag.BagMetadata(
        name=destination.name,
        case_id=case_id,
        organization=organization,
        contract=contract,
        client=client,
        created=journal.created,
    )
    oxum = bag.payload_oxum(records)
    key_id = signing_key.keyid if signing_key is not None else None
    manifest = bag.manifest(records)
    tag_files = {
        bag.MANIFEST: manifest,
        bag.BAG_INFO: bag.bag_info(meta, oxum),
        bag.README: bag.readme(meta, oxum, key_id),
        "bagit.txt": bag.BAGIT_TXT,
    }
    destination.make_payload_dir()  # an empty source still gives a valid bag
    for name, data in tag_files.items():
        _write_small(destination, name, data)
    tagmanifest = bag.tagmanifest(tag_files)
    _write_small(destination, bag.TAGMANIFEST, tagmanifest)
    tagmanifest_sha256 = hashlib.sha256(tagmanifest).hexdigest()
    tag_names = [*tag_files, bag.TAGMANIFEST]

    envelope = envelope_location = None
    if signing_key is not None:
        envelope = sign(
            signing_key,
            [(bag.TAGMANIFEST, tagmanifest_sha256)],
            bag.PREDICATE_TYPE,
            bag.predicate(meta, oxum, hashlib.sha256(manifest).hexdigest()),
        )
        data = (json.dumps(envelope, indent=2, sort_keys=True) + "\n").encode()
        _write_small(destination, bag.SIGNATURE, data)
        tag_names.append(bag.SIGNATURE)
        _write_sibling(destination, bag.ENVELOPE_SUFFIX, data)
        envelope_location = destination.sibling_location(bag.ENVELOPE_SUFFIX)

    tar_location = tar_sha256 = None
    if tar:
        from exporters.tarball import write_tar  # tarfile only when asked for: start-up time

        names = [(name, len(data)) for name, data in sorted(tag_files.items())]
        names.append((bag.TAGMANIFEST, len(tagmanifest)))
        if envelope is not None:
            names.append((bag.SIGNATURE, len(data)))
        names.extend((r.path, r.size) for r in records)
        tar_location, _size, tar_sha256 = write_tar(destination, names, journal.created)

    # The journal goes only once the whole bag is durable: a power cut before that resumes.
    destination.sync(tag_names)
    destination.journal_remove()
    destination.cleanup()
    return PackResult(
        bag=destination.location(),
        name=destination.name,
        files=len(records),
        bytes=sum(r.size for r in records),
        payload_oxum=oxum,
        tagmanifest_sha256=tagmanifest_sha256,
        manifest=[ManifestEntry(r.path, r.sha256, r.size) for r in records],
        envelope=envelope,
        envelope_location=envelope_location,
        key_id=key_id,
        tar=tar_location,
        tar_sha256=tar_sha256,
        copied_files=engine.copied,
        reused_files=engine.reused,
        resumed=resumed,
        skipped=list(engine.skipped),
    )
