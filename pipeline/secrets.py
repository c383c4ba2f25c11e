"""Masking of credentials embedded in URLs (rtsp://user:pass@host) wherever text leaves the process."""

from __future__ import annotations

import logging
import re

# scheme://user:password@  or  scheme://user@  -> both parts replaced
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<cred>[^/@\s'\"]+)@")


def mask_secrets(text: str) -> str:
    """Replace the user and password of every URL in `text` with `***`."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}***@", text)


class SecretMaskingFilter(logging.Filter):
    """A logging filter that masks URL credentials in every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
