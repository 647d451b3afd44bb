"""The corpus through Microsoft Presidio, for comparison: its regex recognizers only.

Presidio normally runs a spaCy language model first; here a stand-in NLP engine hands
its recognizers the bare text, so no model is downloaded and only pattern matching
(e-mail, IP, MAC, phone, URL) is compared, with no network access. Importing this module needs the ``bench``
extra (``pip install -e .[bench]``).
"""

from __future__ import annotations

from typing import Any

import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from presidio_analyzer.predefined_recognizers import (
    EmailRecognizer,
    IpRecognizer,
    MacAddressRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
)
from presidio_anonymizer import AnonymizerEngine

# The e-mail and URL recognizers check top-level domains with tldextract, which would
# fetch the public suffix list from the Internet: use the snapshot it ships instead.
tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class _NoModel(NlpEngine):  # type: ignore[misc]
    """Tokens and entities are left empty: the pattern recognizers need neither."""

    def load(self) -> None:
        return None

    def is_loaded(self) -> bool:
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return NlpArtifacts(entities=[], tokens=[], tokens_indices=[], lemmas=[],
                            nlp_engine=self, language=language)

    def process_batch(self, texts: Any, language: str, **kwargs: Any) -> Any:
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return False

    def is_punct(self, word: str, language: str) -> bool:
        return False

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return ["en"]


class PresidioEngine:
    """Walks any JSON payload and anonymizes every string value."""

    def __init__(self) -> None:
        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in (EmailRecognizer, IpRecognizer, MacAddressRecognizer,
                           PhoneRecognizer, UrlRecognizer):
            registry.add_recognizer(recognizer())
        self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=_NoModel(),
                                        supported_languages=["en"])
        self._anonymizer = AnonymizerEngine()

    def text(self, value: str) -> str:
        found = self._analyzer.analyze(text=value, language="en")
        return str(self._anonymizer.anonymize(text=value, analyzer_results=found).text) \
            if found else value

    def alertmanager(self, payload: Any) -> Any:
        if isinstance(payload, dict):
            return {k: self.alertmanager(v) for k, v in payload.items()}
        if isinstance(payload, list):
            return [self.alertmanager(v) for v in payload]
        if isinstance(payload, str):
            return self.text(payload)
        return payload
