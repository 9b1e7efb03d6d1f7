"""An OpenAI-compatible chat client (`client`: rate limit, retries, failure kinds) and its answer cache (`cache`),
shared by the teacher, the judge and evaluation through a running service."""

from mentalglm.chat.client import ChatClient, ChatSettings, Reply, chat_settings
from mentalglm.chat.cache import AnswerCache

__all__ = ["AnswerCache", "ChatClient", "ChatSettings", "Reply", "chat_settings"]

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('cache', 'client')
