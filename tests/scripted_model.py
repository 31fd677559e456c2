"""A scripted LangChain chat model: returns prepared messages in order (tool calls included) and records
every conversation it was given. For driving the AI step without any network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    script: list[AIMessage] = Field(default_factory=list)
    default: Callable[[list[BaseMessage]], AIMessage] | None = None
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    tools: list[Any] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        self.tools = list(tools)
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.seen.append(list(messages))
        if self.script:
            message = self.script.pop(0)
        elif self.default is not None:
            message = self.default(messages)
        else:
            raise AssertionError("the scripted model ran out of replies")
        message = message.model_copy(update={"usage_metadata": message.usage_metadata or {
            "input_tokens": 100, "output_tokens": 20, "total_tokens": 120}})
        return ChatResult(generations=[ChatGeneration(message=message)])


def call(name: str, call_id: str = "c1", **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])
