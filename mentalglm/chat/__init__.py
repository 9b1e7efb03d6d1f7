"""An OpenAI-compatible chat client (`client`: rate limit, retries, failure kinds) and its answer cache (`cache`),
shared by the teacher, the judge and evaluation through a running service."""

from mentalglm.chat.client import ChatClient, ChatSettings, Reply, chat_settings
from mentalglm.chat.cache import AnswerCache

__all__ = ["AnswerCache", "ChatClient", "ChatSettings", "Reply", "chat_settings"]
