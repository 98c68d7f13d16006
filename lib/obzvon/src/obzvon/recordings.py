"""Where call recordings live: a local folder (the demo's default) or an S3-compatible object store.

The dialer writes one WAV per recorded attempt; the scheduler hands it to its tenant (GetRecording),
deletes it with the contact's data and sweeps it away after the campaign's retention. Keys carry the
tenant, campaign, contact and attempt, so every read is built from the caller's own tenant and a
contact's recordings are one prefix.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

WAV_CONTENT_TYPE = "audio/wav"
# Ids the API accepts (tenant, campaign, contact, attempt): never a slash or a dot-dot path part.
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class RecordingStoreSettings(BaseSettings):
    """The recordings store, shared by the dialer (writes) and the scheduler (reads, deletes, sweeps)."""

    model_config = SettingsConfigDict(env_prefix="OBZVON_", extra="ignore")

    # Empty: recordings go to recordings_dir (OBZVON_RECORDINGS_DIR). Set: an S3 endpoint URL.
    recordings_s3_endpoint: str = ""
    recordings_s3_bucket: str = "obzvon-recordings"
    recordings_s3_region: str = "us-east-1"
    # Empty: botocore's own chain (AWS_ACCESS_KEY_ID..., a pod's service account role).
    recordings_s3_access_key: str = ""
    recordings_s3_secret_key: SecretStr = SecretStr("")
    recordings_dir: str = ".local/recordings"
    # How long a GetRecording URL stays valid.
    recordings_url_ttl_s: int = Field(default=300, ge=1, le=7 * 24 * 3600)


class RecordingNotFoundError(LookupError):
    """No recording under that key."""


@dataclass(frozen=True)
class StoredRecording:
    key: str
    modified: dt.datetime  # UTC
    size: int


@dataclass(frozen=True)
class RecordingAccess:
    """How a tenant reads a recording: a signed URL (S3) or the bytes themselves (a folder)."""

    url: str = ""
    expires: dt.datetime | None = None
    audio: bytes = b""


@dataclass(frozen=True)
class RecordingKey:
    tenant_id: str
    campaign_id: str
    contact_id: str
    attempt_id: str

    def __post_init__(self) -> None:
        for value in (self.tenant_id, self.campaign_id, self.contact_id, self.attempt_id):
            if not _ID.match(value) or value in (".", ".."):
                raise ValueError(f"not an id usable in a recording key: {value!r}")

    @property
    def key(self) -> str:
        return f"{contact_prefix(self.tenant_id, self.campaign_id, self.contact_id)}{self.attempt_id}.wav"

    @classmethod
    def parse(cls, key: str) -> RecordingKey:
        parts = key.split("/")
        if len(parts) != 7 or parts[0] != "tenants" or parts[2] != "campaigns" or parts[4] != "contacts":
            raise ValueError(f"not a recording key: {key!r}")
        return cls(parts[1], parts[3], parts[5], parts[6].removesuffix(".wav"))


def contact_prefix(tenant_id: str, campaign_id: str, contact_id: str) -> str:
    return f"tenants/{tenant_id}/campaigns/{campaign_id}/contacts/{contact_id}/"


class RecordingStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def access(self, key: str, ttl_s: int) -> RecordingAccess: ...

    def objects(self, prefix: str) -> AsyncIterator[StoredRecording]: ...

    async def delete(self, keys: list[str]) -> None: ...

    async def close(self) -> None: ...


async def delete_prefix(store: RecordingStore, prefix: str) -> int:
    """Deletes every recording under prefix; how many."""
    keys = [r.key async for r in store.objects(prefix)]
    await store.delete(keys)
    return len(keys)


class FolderRecordingStore:
    """Recordings as files under a folder (the demo, tests): keys are relative paths."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"key outside the recordings folder: {key!r}")
        return path

    async def put(self, key: str, data: bytes) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see half a file

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise RecordingNotFoundError(key) from None

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def access(self, key: str, ttl_s: int) -> RecordingAccess:
        return RecordingAccess(audio=await self.get(key))

    async def objects(self, prefix: str) -> AsyncIterator[StoredRecording]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        found = await asyncio.to_thread(lambda: sorted(base.rglob("*.wav")) if base.is_dir() else [])
        for path in found:
            stat = path.stat()
            yield StoredRecording(
                key=path.relative_to(self.root).as_posix(),
                modified=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
                size=stat.st_size,
            )

    async def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    async def close(self) -> None:
        return None


class S3RecordingStore:
    """Recordings in an S3-compatible bucket through aiobotocore; one client per process."""

    def __init__(self, settings: RecordingStoreSettings) -> None:
        self._settings = settings
        self.bucket = settings.recordings_s3_bucket
        self._stack = AsyncExitStack()
        self._client: S3Client | None = None
        self._lock = asyncio.Lock()

    async def _s3(self) -> S3Client:
        async with self._lock:
            if self._client is None:
                from aiobotocore.config import AioConfig  # imported only where S3 is configured
                from aiobotocore.session import get_session

                s = self._settings
                secret = s.recordings_s3_secret_key.get_secret_value()
                client = get_session().create_client(
                    "s3",
                    endpoint_url=s.recordings_s3_endpoint,
                    region_name=s.recordings_s3_region,
                    aws_access_key_id=s.recordings_s3_access_key or None,
                    aws_secret_access_key=secret or None,
                    # Checksums only where S3 requires them: stores other than AWS (S3Proxy, older
                    # MinIO/Ceph) refuse the flexible-checksum headers newer botocore sends by default.
                    config=AioConfig(
                        request_checksum_calculation="when_required", response_checksum_validation="when_required"
                    ),
                )
                self._client = await self._stack.enter_async_context(client)
            assert self._client is not None
            return self._client

    async def ensure_bucket(self) -> None:
        """Creates the bucket when missing (a local S3Proxy); a real deployment creates it beforehand."""
        s3 = await self._s3()
        try:
            await s3.head_bucket(Bucket=self.bucket)
        except s3.exceptions.ClientError as e:
            # Only a missing bucket is created; credentials that may not look (403) fail here, at start.
            if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            await s3.create_bucket(Bucket=self.bucket)

    async def put(self, key: str, data: bytes) -> None:
        s3 = await self._s3()
        await s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=WAV_CONTENT_TYPE)

    async def get(self, key: str) -> bytes:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            raise RecordingNotFoundError(key) from None
        async with response["Body"] as body:
            data: bytes = await body.read()
            return data

    async def exists(self, key: str) -> bool:
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=key)
        except s3.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def access(self, key: str, ttl_s: int) -> RecordingAccess:
        s3 = await self._s3()
        url = await s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl_s)
        return RecordingAccess(url=url, expires=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl_s))

    async def objects(self, prefix: str) -> AsyncIterator[StoredRecording]:
        s3 = await self._s3()
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield StoredRecording(key=obj["Key"], modified=obj["LastModified"], size=obj["Size"])

    async def delete(self, keys: list[str]) -> None:
        if not keys:
            return
        s3 = await self._s3()
        # One DELETE per key, a few at once: DeleteObjects needs a body checksum that newer botocore
        # sends as x-amz-checksum-crc32, which S3-compatible stores such as S3Proxy refuse.
        for i in range(0, len(keys), 16):
            await asyncio.gather(*(s3.delete_object(Bucket=self.bucket, Key=k) for k in keys[i : i + 16]))

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None


async def open_store(settings: RecordingStoreSettings) -> RecordingStore:
    """The store the settings name: S3 when an endpoint is set, else the local folder."""
    if settings.recordings_s3_endpoint:
        store = S3RecordingStore(settings)
        await store.ensure_bucket()
        return store
    return FolderRecordingStore(settings.recordings_dir)
