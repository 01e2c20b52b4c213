"""Sync bundles (SPEC §5), one import for callers: the format, the writer, the reader and verify.

The code lives in bundle_format (names, caps, manifest), bundle_write, bundle_read and bundle_check
(the signer and line rules shared by verify and the merge); this module only re-exports them.
"""

from fieldapp.sync.bundle_check import (
    Enrolled,
    Enrolment,
    LineInvalid,
    Report,
    check_line,
    check_signer,
    verify,
)
from fieldapp.sync.bundle_format import (
    CHUNK,
    FORMAT,
    FORMAT_VERSION,
    MAX_FILE_BYTES,
    MAX_LINE_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_RATIO,
    MAX_VERSIONS_BYTES,
    MEMBERS,
    MEMBERS_V2,
    SUFFIX,
    BundleError,
    Encryption,
    Manifest,
    MemberInfo,
    Progress,
    bundle_name,
    file_sha256,
)
from fieldapp.sync.bundle_read import BundleReader, Line, open_bundle
from fieldapp.sync.bundle_write import Seal, Written, version_line, write_bundle

__all__ = [
    "CHUNK",
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_FILE_BYTES",
    "MAX_LINE_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_RATIO",
    "MAX_VERSIONS_BYTES",
    "MEMBERS",
    "MEMBERS_V2",
    "SUFFIX",
    "BundleError",
    "BundleReader",
    "Encryption",
    "Enrolled",
    "Enrolment",
    "Line",
    "LineInvalid",
    "Manifest",
    "MemberInfo",
    "Progress",
    "Report",
    "Seal",
    "Written",
    "bundle_name",
    "check_line",
    "check_signer",
    "file_sha256",
    "open_bundle",
    "verify",
    "version_line",
    "write_bundle",
]
