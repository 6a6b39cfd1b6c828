"""Lianban (联办): BPMN process orchestration for 一件事一次办."""

from orchestrator.app import create_app

__all__ = ["create_app"]
