"""Cited, extractive question answering over a folder of documents."""

from .config import Settings
from .engine import Engine
from .indexing import build
from .types import Answer, BuildReport, Chunk, Citation, Document, Hit

__all__ = ["Answer", "BuildReport", "Chunk", "Citation", "Document", "Engine", "Hit", "Settings", "build"]
