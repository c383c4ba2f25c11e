"""Credentials in URLs never leave the process unmasked."""

from __future__ import annotations

import logging

import pytest

from pipeline.errors import SourceOpenError
from pipeline.secrets import SecretMaskingFilter, mask_secrets


@pytest.mark.parametrize(("text", "expected"), [
    ("rtsp://admin:hunter2@10.0.0.5:554/s1", "rtsp://***@10.0.0.5:554/s1"),
    ("open 'rtsp://u:p@cam/x' failed", "open 'rtsp://***@cam/x' failed"),
    ("rtsp://user@cam/x and http://a:b@h/", "rtsp://***@cam/x and http://***@h/"),
    ("rtsp://cam/stream", "rtsp://cam/stream"),
])
def test_mask_secrets(text: str, expected: str) -> None:
    assert mask_secrets(text) == expected


def test_logging_filter_masks_formatted_message(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("argus.test.secrets")
    logger.addFilter(SecretMaskingFilter())
    with caplog.at_level(logging.INFO, logger="argus.test.secrets"):
        logger.info("connecting to %s", "rtsp://admin:hunter2@cam/1")
    assert "hunter2" not in caplog.text and "rtsp://***@cam/1" in caplog.text


def test_source_open_error_masks_uri() -> None:
    message = str(SourceOpenError("lobby", "rtsp://admin:hunter2@cam/1", "timeout"))
    assert message == "source 'lobby': cannot open rtsp://***@cam/1: timeout"
