"""The erasure report and its key: the evidence `erase` keeps, naming members only by HMAC-SHA256
under an operator-held key, so the report alone cannot be searched with candidate ids."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

REPORT_FORMAT = "kognitiv-bridge erasure report 2"
HASH_NAME = "hmac-sha256(report key, member id), hex"
REPORT_KEY_SETTING = "KOGNITIV_ERASURE_REPORT_KEY"
MIN_KEY_BYTES = 16
DELETE_ACCEPTED, ERASURE_ACCEPTED = "delete_accepted", "erasure_accepted"
NOT_FOUND, REFUSED = "not_found", "refused"
Outcome = Literal["delete_accepted", "erasure_accepted", "not_found", "refused"]
# What each outcome means, written into the report's header so the file explains itself.
OUTCOMES = {
    DELETE_ACCEPTED: "MoEngage Delete User (POST /v1/customer/delete, identity_type customer_id) "
    "accepted the request: the profile and its attributes are deleted after MoEngage's 24-hour "
    "buffer; its events are not deleted",
    ERASURE_ACCEPTED: "MoEngage GDPR erasure (POST /v1/opengdpr_requests/{app_id}, request_type "
    "erasure, identity_type ID) accepted the request: MoEngage erases the user's personal data",
    NOT_FOUND: "Delete User answered that MoEngage has no such user (never there, or deleted)",
    REFUSED: "MoEngage refused the request for this member (detail: status and error type)",
}


class ReportKeyProblem(RuntimeError):
    """The report key is missing, unreadable, too short, or not the key of the report."""


def load_report_key(path: Path | None, environ: Mapping[str, str]) -> tuple[bytes, bool]:
    """The operator's report key and whether it was created now: from `path` (a new random key
    is written there, readable by its owner only, when the file does not exist), else from
    KOGNITIV_ERASURE_REPORT_KEY (e.g. a Key Vault reference)."""
    if path is None:
        text = environ.get(REPORT_KEY_SETTING, "").strip()
        if not text:
            raise ReportKeyProblem(
                f"erase needs a report key kept apart from the report: --report-key FILE (created "
                f"when missing) or the setting {REPORT_KEY_SETTING}"
            )
        return _checked_key(text.encode(), REPORT_KEY_SETTING), False
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            return _checked_key(path.read_bytes().strip(), str(path)), False
        except OSError as error:
            raise ReportKeyProblem(f"cannot read the report key {path}: {error.strerror}") from None
    except OSError as error:
        raise ReportKeyProblem(f"cannot create the report key {path}: {error.strerror}") from None
    key = secrets.token_hex(32).encode()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key + b"\n")
    return key, True


def _checked_key(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY_BYTES * 2:
        raise ReportKeyProblem(
            f"the report key in {where} is too short: use at least {MIN_KEY_BYTES * 2} random "
            "characters (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return key


def key_id(key: bytes) -> str:
    """Which key a report was written with, without revealing it."""
    return hmac.new(key, b"kognitiv-bridge erasure report key id", hashlib.sha256).hexdigest()[:16]


def member_hash(key: bytes, member_id: str) -> str:
    """How the report names a member: HMAC-SHA256 keyed by the operator's report key."""
    return hmac.new(key, member_id.encode(), hashlib.sha256).hexdigest()


class ErasureReport:
    """The evidence file: a header line (format, workspace, what each outcome means, the key's
    id) then one line per member settled, appended as batches settle (resumed and repeated runs
    append to the same file under the same key, so earlier evidence is never lost)."""

    def __init__(self, path: Path, workspace: str, data_center: str, key: bytes) -> None:
        self.path = path
        self.workspace = workspace
        self.data_center = data_center
        self.key = key

    def check(self) -> None:
        """Raise ReportKeyProblem when an existing report cannot be appended to with this key
        (another key, or an older format): its evidence is never overwritten."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        header = _header(self.path)
        if header.get("format") != REPORT_FORMAT:
            raise ReportKeyProblem(
                f"{self.path} is not a report this version can append to: keep it, and write "
                "this run's report elsewhere with --report"
            )
        if header.get("key_id") != key_id(self.key):
            raise ReportKeyProblem(
                f"{self.path} was written with another report key: give that key (--report-key "
                f"or {REPORT_KEY_SETTING}), or write this run's report elsewhere with --report"
            )

    def open(self, keep: int | None) -> IO[str]:
        """The report to append to: an existing one keeps everything recorded (cut back to
        `keep` bytes, what the checkpoint vouches for, when resuming); a new one starts with a
        header."""
        self.check()
        if self.path.exists() and self.path.stat().st_size > 0:
            handle = self.path.open("r+", encoding="utf-8")
            if keep is not None:
                handle.truncate(keep)
            handle.seek(0, os.SEEK_END)
            return handle
        handle = self.path.open("w", encoding="utf-8")
        header = {
            "format": REPORT_FORMAT,
            "created_at": now_text(),
            "workspace": self.workspace,
            "data_center": self.data_center,
            "outcomes": OUTCOMES,
            "member": HASH_NAME,
            "key_id": key_id(self.key),
        }
        handle.write(json.dumps(header) + "\n")
        return handle

    def line(
        self,
        member_id: str,
        outcome: Outcome,
        request_id: str | None,
        detail: str | None = None,
    ) -> str:
        entry = {
            "member": member_hash(self.key, member_id),
            "time": now_text(),
            "outcome": outcome,
            "moengage_request_id": request_id,
        }
        if detail:
            entry["detail"] = detail
        return json.dumps(entry) + "\n"


def ids_digest(key: bytes, ids: Sequence[str]) -> str:
    """Which list a checkpoint belongs to, without keeping any id: keyed by the report key like
    the report's names, since a plain hash of a one-member list is that member's plain hash
    (found by hashing a candidate list)."""
    digest = hmac.new(key, b"kognitiv-bridge erasure id list\n", hashlib.sha256)
    for member in ids:
        digest.update(member.encode() + b"\n")
    return digest.hexdigest()


def _header(path: Path) -> dict:
    """The report's first line, or {} when there is no readable report."""
    try:
        with path.open(encoding="utf-8") as handle:
            header = json.loads(handle.readline())
    except (OSError, ValueError):
        return {}
    return header if isinstance(header, dict) else {}


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
