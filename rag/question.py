"""What a question asks for: the kind of short answer, a definition, a reason, a list, or two things.

Pure rules over the question's words, read by the answer selector's features, the short-answer
extractor and the abstention checks.

>>> analyse("Who unveiled the plan?").asks, analyse("How long do they have to report?").asks
('person', 'duration')
>>> analyse("Which four areas does it cover?").asks is None  # a count word is not a count question
True
>>> analyse("what does SBOM mean").definition, analyse("why bother with memory-safe languages?").why
(True, True)
>>> analyse("What did Blinken launch, and with whom?").parts
('What did Blinken launch?', 'with whom?')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .conversation import resolve
from .lexicon import AUX, PRONOUNS, VERBS, WH
from .ordinals import without_topic

_ORG_NOUNS = (r"agenc(?:y|ies)|organi[sz]ations?|office|department|body|entity|entities|compan(?:y|ies)|"
              r"group|council|institution|bureau|team|administration|government|universit(?:y|ies)|outlets?|"
              r"newspapers?|paper|publication|regulators?|not-for-profit|non-?profit|firms?|part of|unit|"
              r"partners?|allies")
_OFFICIAL = r"(?:official |full |formal |exact )?"
# the name of a document, law, body or programme: "what is the strategy called?", "the document's official title"
_TITLE = re.compile(rf"\b{_OFFICIAL}(?:title|name) of (?:the|this|that|its|their|[\w’'-]+[’']s)\b(?! (?:person|"
                    r"official|man|woman|leader|head|chair|director|secretary|advisor))|"
                    rf"\bwhat(?:'s|’s| is| was| are| were) (?:the |its |their |(?:the )?[\w’'-]+[’']s )?{_OFFICIAL}"
                    r"(?:title|name)\b(?! of)|"
                    r"\bwhat (?:is|was|are|were) (?:[\w’'-]+ ){1,5}(?:called|named)\b(?! (?:for|on|upon|to|in)\b)",
                    re.I)
_ASKS: list[tuple[str, re.Pattern[str]]] = [
    ("title", _TITLE),
    ("amount", re.compile(r"\bhow much (money|funding|funds?|cash|budget|investment|is (being )?(spent|invested))|"
                          r"\bhow much\b.*\b(cost|spend|spent|spending|invest|allocat|fund|pay|paid|dollars?|"
                          r"worth|valued?|price[ds]?|budgeted|awarded|granted)|"
                          r"\bwhat(?:'s| is| was)? the (total )?(budget|price|cost|amount|funding)\b|"
                          r"\bhow (many|much) dollars\b|\bdollar (amount|figure)\b|"
                          r"\bhow much (damage|harm|loss)\b|"
                          r"\bwhat(?:'s| is| was| are)\b.*\b(annual |yearly )?budget\b", re.I)),
    ("place", re.compile(r"\b(which|what) (nations?|country|countries|city|cities|states?)\b", re.I)),
    ("duration", re.compile(r"\bhow long\b|\bhow (soon|quickly|fast|often|frequently)\b|\bhow much time\b|"
                            r"\bwhat length\b|\bthe longest\b.*\b(wait|take|have)\b|"
                            r"\b(within|in) (how many|what) (hours|days|weeks|months|years|time)\b|"
                            r"\bwhat (is the )?(deadline|time ?frame|timeline|period|window)\b", re.I)),
    ("count", re.compile(r"\bhow many\b|\bhow (big|large|wide)\b|\bnumber of\b|"
                         r"\bhow much\b(?!.*\b(money|fund|cost|spend|budget))", re.I)),
    ("date", re.compile(r"^\s*(and )?when\b|\bwhen (was|were|did|is|will|does|do)\b|\b(what|which) (exact )?"
                        r"(date|day|year|month|time)s?\b|\b(yearly|annual) deadline\b|\bon what date\b|"
                        r"\bby when\b|\bwhat year\b|\bsince when\b", re.I)),
    ("place", re.compile(r"^\s*(and )?where\b|\bwhere (was|were|did|is|will|does|do)\b|\b(in|at) (what|which) "
                         r"(city|country|place|location|venue|event|conference)\b|\b(what|which) (city|venue|"
                         r"location|place|conference|event)\b", re.I)),
    ("organisation", re.compile(rf"\b(which|what) (?:(?-i:[A-Z][\w-]*) )?({_ORG_NOUNS})\b|"
                                rf"\bwho(?:'s| is| are)? (in charge|responsible|"
                                rf"leads?|leading|runs?|coordinat|oversees?|overseeing)\b", re.I)),
    ("person", re.compile(r"^\s*(and )?(who|whom|whose)\b|\bwho(?:'s| is| was| did| made| gave| said)\b|"
                          r"\bwith whom\b|\bby whom\b|\bwhat (is|was) (his|her) name\b|\bwhich (official|person|"
                          r"secretary|advisor|adviser|president|leaders?|officials)\b|"
                          r"\bwhich cabinet (secretary|member|official)\b", re.I)),
]
_DEFINITION = re.compile(r"^\s*(so )?(what|who)(?:'s| is| are| was| were) (an? |the )?[\w .'’/-]{1,40}\??\s*$|"
                         r"\bdefin|\bwhat does .* (mean|stand for)\b|\bmeaning of\b|\bstands? for\b|"
                         r"\bwhat do (they|you|we) mean by\b|\bexplain\b|\bwhat('s| is) meant by\b", re.I)
_WHY = re.compile(r"^\s*(and |so )?why\b|\bwhat is the (reason|point|purpose|rationale|goal)\b|\bfor what reason\b|"
                  r"\bwhat for\b|\bhow come\b|\bwhat('s| is) behind\b|\bmotivat|\bpurpose\b", re.I)
_LIST = re.compile(r"\b(what|which) (are|were) the\b|\blist\b|\bname (the|all)\b|\b(areas|pillars|goals|"
                   r"principles|objectives|priorities|steps|ways|things|ideas|lines of effort|components|elements|"
                   r"actions|measures|requirements|categories|parts|points|themes|commitments|sectors|efforts|"
                   r"initiatives|areas of action|shifts)\b", re.I)
_WH = r"(?:who|whom|what|when|where|why|how|which|whose|with whom|by whom|to whom)"
_SPLIT = re.compile(rf"(?:,\s*(?:and|but|plus)\s+|\s+and\s+(?=(?:also\s+)?{_WH}\b)|\?\s+(?=(?:and\s+)?{_WH}\b)|;\s*)",
                    re.I)


@dataclass(frozen=True)
class QuestionInfo:
    text: str
    asks: str | None  # person | organisation | place | date | duration | count | amount
    definition: bool
    why: bool
    wants_list: bool
    parts: tuple[str, ...]  # two-part questions: each part; else just the question


_LEADING_CLAUSE = re.compile(rf"^\s*(?:when|if|once|while|since|after|before|as)\b[^?]*?,\s*(?={_WH}\b)", re.I)
_DOCUMENT_LENGTH = re.compile(r"\bhow long (is|was|are|were) (the |this |that |its |their |[\w'’.-]+ ){0,6}"
                              r"(document|report|strategy|plan|memo|memorandum|fact sheet|text|paper|order|statement|"
                              r"speech|article|declaration|piece)s?\b", re.I)


def expected(question: str) -> str | None:
    """The kind of short answer the question asks for, or None: read from the main clause ("When the
    memo says X, what does that mean?" asks for no date), and "how long is the document" asks for a count
    (of pages), not a duration.

    >>> expected("When the memo says 'in coordination with', what does that mean?") is None
    True
    >>> expected("How long is Blinken's strategy document?")
    'count'
    """
    question = _LEADING_CLAUSE.sub("", question, count=1)
    if _DOCUMENT_LENGTH.search(question):
        return "count"
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return None


def split_parts(question: str) -> tuple[str, ...]:
    """A two-part question cut on its own structure ("X, and Y?", "X and where Y?", "X? Why Y?").

    >>> split_parts("Who announced it and where?")
    ('Who announced it?', 'where?')
    >>> split_parts("What are the four areas of action?")
    ('What are the four areas of action?',)
    """
    pieces = [p.strip(" ,;?") for p in _SPLIT.split(question.strip())]
    pieces = [p for p in pieces if len(re.findall(r"\w+", p)) >= 1]
    if len(pieces) < 2 or len(pieces) > 3 or len(pieces[0].split()) < 2:  # "When, and aboard what, did ...?"
        return (question.strip(),)
    # the later part must ask something of its own, not continue a noun phrase ("X and Y policy")
    if not all(re.match(rf"(?:also\s+)?{_WH}\b", p, re.I) or p is pieces[0] for p in pieces):
        return (question.strip(),)
    return tuple(p + "?" for p in pieces)




def analyse(question: str) -> QuestionInfo:
    """What ``question`` asks for, read from the question before the context a follow-up carries.

    >>> analyse("Who checks? (How long do agencies have to keep logs)").asks
    'person'
    """
    main = without_topic(question)  # what it asks is read before the topic a follow-up carries
    parts = split_parts(main)
    if len(parts) < 2:
        parts = (question.strip(),)
    else:
        parts = (parts[0],) + tuple(_standalone(p, parts[0]) for p in parts[1:])
    asks = expected(parts[0]) if len(parts) > 1 else expected(main)
    return QuestionInfo(question, asks, (bool(_DEFINITION.search(main)) or _bare(main)) and asks is None,
                        bool(_WHY.search(main)), bool(_LIST.search(main)), parts)


_COMMANDS = frozenset("explain summarize summarise describe define compare tell show give list name".split())


def _standalone(part: str, first: str) -> str:
    """A later part of a two-part question with its pronoun read from the first part, as a follow-up's
    is ("what is an SBOM and who has to provide one?": "who has to provide an SBOM?")."""
    if not _PRONOUN.search(part):
        return part
    out = without_topic(resolve(part, [{"question": first}]).question)
    return part if "—" in out or "(" in out else out


_PRONOUN = re.compile(r"\b(?:it|its|they|them|their|one)\b", re.I)


def _bare(text: str) -> bool:
    """A topic typed alone ("digital solidarity", "hunt forward missions?"): asked as what it is.

    >>> _bare("digital solidarity"), _bare("explain zero trust"), _bare("Blinken launched it")
    (True, False, False)
    """
    ws = re.findall(r"[\w'’-]+", text.lower())
    return 0 < len(ws) <= 4 and ws[0] not in _COMMANDS and not any(w in _NO_TOPIC for w in ws) \
        and not re.search(r"\w(?:ed|ing)\b", text.lower())


_NO_TOPIC = WH | AUX | VERBS | PRONOUNS  # a question word, a verb or a pronoun: a question, not a topic alone


# a question asking for several ("which countries", "who are the members"): an enumeration is one short answer
_SEVERAL = re.compile(r"\b(?:which|what)\s+(?:(?-i:[A-Z]{2,})\s+|other\s+|two\s+|three\s+|four\s+)?"
                      r"(?!does\b|has\b|was\b)[a-z]+(?:ies|[^su'’]s)\b|"
                      r"\bwho (?:are|were)\b|"
                      r"\bwhos in\b|\bwho(?:'s| is) in\b", re.I)
# "who launched ...?": the question's verb, whose subject (or "by" agent) is the answer
_DOER = re.compile(r"\W*who\s+(?!is\b|was\b|are\b|were\b|does\b|did\b|do\b|has\b|have\b|will\b|"
                   r"should\b|must\b|can\b|could\b|would\b)([a-z]{3,})", re.I)


def asks_several(question: str) -> bool:
    """Whether the question asks for several things of a kind.

    >>> asks_several("Which countries signed?"), asks_several("Which agency leads it?")
    (True, False)
    """
    return bool(_SEVERAL.search(question))


def doer_verb(question: str) -> str:
    """The first five letters of the verb of a "who <verb> ...?" question, else "".

    >>> doer_verb("Who launched the plan?"), doer_verb("Who is the director?")
    ('launc', '')
    """
    m = _DOER.match(question)
    return m.group(1).lower()[:5] if m else ""


# "who is Kemba Walden?": asks what that person is (``short_answer`` gives no other name)
WHO_IS = re.compile(r"\W*who(?:'s|\s+is|\s+was|\s+are|\s+were)\s+(?!(?:the|a|an|this|that|these|those|our|their|its|"
                    r"his|her|in|on|at|for|responsible|leading|behind|running|now|currently)\b)(?P<name>[\w.'’-]+"
                    r"(?:\s+[\w.'’-]+){0,3}?)\s*\??\s*$", re.I)
# "by when ...?", "when must ...?": a time limit answers it as well as a date
DEADLINE = re.compile(r"\bby when\b|\bwhen (must|should|shall|do|does|did|will|are|is|was|were) [^?]{0,60}\b(have to|"
                      r"need to|due|requires?|required|expected to)\b|"
                      r"\bwhen (must|should|shall)\b", re.I)
