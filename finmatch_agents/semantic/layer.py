"""The semantic layer of one database: the model, what the data taught it, and the parser and compiler
over them. Chat sessions hold one (learned when first needed); the similar-customer search reads and compiles
its constraints through the same object (``read_audience``, ``compile_audience``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finmatch_agents.errors import UsageError
from finmatch_agents.semantic.audience import AudienceParse, AudienceQuery, AudienceSQL, compile_audience, read_audience
from finmatch_agents.semantic.compiler import Compiled, Compiler
from finmatch_agents.semantic.lexicon import build_lexicon
from finmatch_agents.semantic.parser import Parse, Parser
from finmatch_agents.semantic.suggest import close_questions
from finmatch_agents.semantic.vocabulary import Run, Vocabulary, learn

if TYPE_CHECKING:
    from finmatch_agents.semantic.model import SemanticModel
    from finmatch_agents.semantic.query import StructuredQuery


class SemanticLayer:
    def __init__(self, model: SemanticModel, vocab: Vocabulary, table: str) -> None:
        self.model, self.vocab, self.table = model, vocab, table
        self.lexicon = build_lexicon(model, vocab)
        self.parser = Parser(model, vocab, self.lexicon)
        self.compiler = Compiler(model, table, set(vocab.present))

    @classmethod
    def learn(cls, model: SemanticModel, run: Run, table: str, present: set[str]) -> SemanticLayer:
        return cls(model, learn(model, run, table, present), table)

    def parse(self, text: str) -> Parse:
        return self.parser.parse(text)

    def compile(self, query: StructuredQuery) -> Compiled:
        return self.compiler.compile(query)

    def read_audience(self, text: str) -> AudienceParse:
        """A question about which customers: constraints and the semantic part (see semantic/audience.py)."""
        return read_audience(self.parser, text)

    def compile_audience(self, query: AudienceQuery) -> AudienceSQL:
        return compile_audience(self.model, self.compiler, self.table, query)

    def answerable(self, query: StructuredQuery) -> bool:
        try:
            self.compiler.check(query)
        except UsageError:
            return False
        return True

    def suggestions(self, parse: Parse, limit: int = 3) -> list[str]:
        return close_questions(parse, self.parser, self.answerable, limit)
