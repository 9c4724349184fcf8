"""The LLM provider behind the assistant, through litellm: one streamed chat completion with tools, its token usage
from the provider, and its cost from litellm's price catalogue (or the prices in the settings).

Importing litellm takes about ten seconds, so it happens on first use (``load``, in a worker thread from async
code), never when this module is imported. Unless the environment says otherwise, litellm reads the price catalogue
shipped with the pinned version and fetches nothing on its own (``LITELLM_LOCAL_MODEL_COST_MAP``,
``LITELLM_OFFLINE_MODE``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from app.settings import get_settings

log = logging.getLogger(__name__)

_load_lock = threading.Lock()
_registered: set[tuple[str, float | None, float | None]] = set()
_unpriced: set[str] = set()


class LlmError(Exception):
    """The provider failed or refused the call; the message says what happened in words a user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LlmTimeout(LlmError):
    """The provider sent nothing for ``timeout`` seconds (before the first chunk or between two)."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text as the model wrote it (it may be invalid)


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Reply:
    """What one streamed call produced: filled while the stream is read, complete once it ends. After a
    cancellation it still holds the text received so far (and the usage, if the provider had sent it)."""

    text: str = ""
    usage: TokenUsage | None = None
    finish_reason: str | None = None
    _tool_parts: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [
            ToolCall(id=part["id"] or f"call_{index}", name=part["name"], arguments=part["arguments"])
            for index, part in sorted(self._tool_parts.items())
        ]

    def absorb(self, chunk: Any) -> str:
        """Add one streamed chunk; returns its text (empty when it has none)."""
        usage = getattr(chunk, "usage", None)
        if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
            self.usage = TokenUsage(int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0))
        text = ""
        for choice in getattr(chunk, "choices", None) or []:
            if getattr(choice, "index", 0) not in (0, None):
                continue
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
            delta = choice.delta
            if delta is None:
                continue
            text += delta.content or ""
            for call in getattr(delta, "tool_calls", None) or []:
                part = self._tool_parts.setdefault(self._index(call), {"id": "", "name": "", "arguments": ""})
                if call.id:
                    part["id"] = call.id
                function = call.function
                if function is not None:
                    # Names arrive whole (in the first piece); arguments arrive in pieces to join.
                    if function.name:
                        part["name"] = function.name
                    part["arguments"] += function.arguments or ""
        self.text += text
        return text

    def _index(self, call: Any) -> int:
        """Which tool call a streamed piece belongs to. OpenAI numbers them and sends the id in the first piece only;
        some providers send each call whole without a number, or with the same one: a new id is a new call."""
        index = call.index
        known = self._tool_parts.get(index) if index is not None else None
        if call.id and (index is None or (known and known["id"] and known["id"] != call.id)):
            same = [i for i, part in self._tool_parts.items() if part["id"] == call.id]
            return same[0] if same else max(self._tool_parts, default=-1) + 1
        if index is None:
            return max(self._tool_parts, default=0)
        return int(index)


@functools.cache
def load() -> ModuleType:
    """litellm, imported once (slow: call it from a worker thread in async code)."""
    with _load_lock:  # two first callers at once: one imports, the other waits for it
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
        import litellm

        litellm.suppress_debug_info = True
        return litellm


def is_loaded() -> bool:
    """Whether litellm is imported (before that, no request can have been sent)."""
    return load.cache_info().currsize > 0


def register_custom_prices() -> None:
    """Give litellm the prices in ``LLM_INPUT_COST_PER_MTOK`` / ``LLM_OUTPUT_COST_PER_MTOK`` for ``LLM_MODEL``
    (they override the catalogue's; a price not set keeps the catalogue's, if it has one)."""
    settings = get_settings()
    model = settings.llm_model.strip()
    prices = (settings.llm_input_cost_per_mtok, settings.llm_output_cost_per_mtok)
    if not model or prices == (None, None) or (model, *prices) in _registered:
        return
    litellm = load()
    entry: dict[str, Any] = {"mode": "chat"}
    if prices[0] is not None:
        entry["input_cost_per_token"] = prices[0] / 1_000_000
    if prices[1] is not None:
        entry["output_cost_per_token"] = prices[1] / 1_000_000
    try:
        entry["litellm_provider"] = litellm.get_llm_provider(model=model)[1]
    except Exception:  # an unknown provider prefix: the price still applies to this exact model name
        log.debug("litellm cannot tell the provider of %r", model)
    litellm.register_model({model: entry})
    _registered.add((model, *prices))


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """The cost of one call in USD, from litellm's price catalogue (after the custom prices, if set).

    A model litellm has no price for costs 0.0, with a warning logged once per model: set
    ``LLM_INPUT_COST_PER_MTOK`` and ``LLM_OUTPUT_COST_PER_MTOK`` to price it.
    """
    litellm = load()
    register_custom_prices()
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception as error:
        if model not in _unpriced:
            _unpriced.add(model)
            log.warning(
                "litellm has no price for model %r (%s): its calls are recorded at cost 0. Set "
                "LLM_INPUT_COST_PER_MTOK and LLM_OUTPUT_COST_PER_MTOK to price it.",
                model,
                type(error).__name__,
            )
        return 0.0
    return float(prompt_cost) + float(completion_cost)


def estimate_usage(model: str, messages: list[dict[str, Any]], completion_text: str) -> TokenUsage:
    """Tokens counted locally (litellm's tokenizers) for a call whose usage the provider never reported, such as a
    stream stopped before its end."""
    litellm = load()
    try:
        prompt = int(litellm.token_counter(model=model, messages=messages))
        completion = int(litellm.token_counter(model=model, text=completion_text)) if completion_text else 0
    except Exception:
        log.debug("token counting failed for %r; using 4 characters per token", model, exc_info=True)
        prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4
        completion = len(completion_text) // 4
    return TokenUsage(prompt, completion)


def _error(error: BaseException, timeout: float) -> LlmError:
    """A provider failure as words for the user (the provider's own message, shortened, at the end)."""
    litellm = load()
    detail = " ".join(str(getattr(error, "message", "") or error).split())[:300]
    if isinstance(error, TimeoutError | litellm.Timeout):
        return LlmTimeout(f"The AI provider did not answer in time (no reply within {timeout:g} seconds). Try again.")
    if isinstance(error, litellm.AuthenticationError):
        return LlmError(
            f"The AI provider refused the API key: check LLM_API_KEY (or the provider's own key variable). ({detail})"
        )
    if isinstance(error, litellm.RateLimitError):
        return LlmError(f"The AI provider's rate limit was reached; try again in a minute. ({detail})")
    if isinstance(error, litellm.ContextWindowExceededError):
        return LlmError("This conversation is too long for the model; start a new conversation.")
    if isinstance(error, litellm.APIConnectionError):
        return LlmError(f"Could not reach the AI provider. ({detail})")
    return LlmError(f"The AI provider failed: {detail}")


async def stream_completion(
    *,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    api_base: str | None,
    api_key: str | None,
    timeout: float,
    reply: Reply,
    **options: Any,
) -> AsyncGenerator[str, None]:
    """Stream one chat completion: yields text deltas and fills ``reply`` (text, tool calls, usage).

    ``timeout`` bounds the wait for the first chunk and between two chunks. ``options`` go to
    ``litellm.acompletion`` as they are (``tool_choice``, ``temperature``; tests pass ``mock_response``).

    Raises:
        LlmTimeout: Nothing arrived for ``timeout`` seconds.
        LlmError: The provider refused or failed the call.
    """
    litellm = await asyncio.to_thread(load)
    arguments: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "timeout": timeout,
        **({"tools": tools} if tools else {}),
        **({"api_base": api_base} if api_base else {}),
        **({"api_key": api_key} if api_key else {}),
        **options,
    }
    if api_base and not api_key and model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
        # A local OpenAI-compatible server (Ollama, llama.cpp, vLLM) often wants no key, but the OpenAI client
        # refuses to send a request without one: give it a placeholder.
        arguments["api_key"] = "no-key"
    stream: Any = None
    try:
        async with asyncio.timeout(timeout):
            stream = await litellm.acompletion(**arguments)
        chunks = stream.__aiter__()
        while True:
            try:
                async with asyncio.timeout(timeout):
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            text = reply.absorb(chunk)
            if text:
                yield text
    except LlmError:
        raise
    except Exception as error:
        raise _error(error, timeout) from error
    finally:
        if stream is not None and hasattr(stream, "aclose"):
            # Release the HTTP connection also when the consumer stops early (cancel, timeout).
            try:
                await stream.aclose()
            except Exception:
                log.debug("closing the LLM stream failed", exc_info=True)
