"""The word lists the conversation rules read: question words, auxiliaries, determiners, prepositions,
pronouns, verbs a question may use, count words, titles, the nouns that name a document or an organisation.
Hand-made and small; ``rag.phrases`` finds noun phrases with them.
"""

from __future__ import annotations

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "last")
WH = frozenset("what who whom whose which when where why how".split())
AUX = frozenset("is are was were be been being am do does did can could will would should shall may might must "
                "has have had".split())
DETERMINERS = frozenset("the a an this that these those its their his her our your my some any each every all both "
                        "such".split())
PREPOSITIONS = frozenset("of in on at to for from with about by under over into onto through between against during "
                         "after before within without among across toward towards per via regarding according as "
                         "than upon around behind beyond since until like out up down off amid amidst despite "
                         "throughout besides alongside unlike versus except".split())
PRONOUNS = frozenset("it they them he him she her we us you i me itself themselves one ones there here".split())
OTHER = frozenset("and or but nor not no also else more most very so then just only exactly really still already "
                  "even ever never please tell explain much many another same ok okay yes what's who's "
                  "where's when's how's that's it's there's isn't aren't doesn't don't didn't wasn't weren't can't "
                  "won't".split())
STOP = WH | AUX | DETERMINERS | PREPOSITIONS | PRONOUNS | OTHER
_VERB_STEMS = ("say mean include cover require propose aim describe define establish create announce outline emphasize "
               "highlight want seek lead take give make get go come become happen begin mention sign unveil publish "
               "achieve promote protect build strengthen combat defend invest expand improve enhance shape involve "
               "affect apply ensure provide deliver oversee implement respond identify notify disclose prohibit "
               "restrict allow enable recommend address encourage reduce prevent hold tell know think stand launch "
               "release preview report adopt develop coordinate manage encrypt migrate designate appoint rescind "
               "replace comply enforce regulate deter disrupt detect hire buy sell pay spend mitigate assess align "
               "harmonize prioritize modernize codify collaborate cooperate engage convene host attend endorse join "
               "ratify criticize accuse condemn punish warn urge ask work threaten blame write draft fund").split()
_IRREGULAR = ("said led took gave made got went came became began sought held told meant known stood set put wrote "
              "written").split()
NOT_ADVERBS = frozenset("supply apply reply family assembly italy july rally ally anomaly monopoly".split())
VERBS = frozenset(_VERB_STEMS + [v + ("es" if v.endswith(("s", "sh", "ch", "x")) else "s") for v in _VERB_STEMS]
                  + _IRREGULAR + ["applies", "identifies", "notifies", "does", "goes"])
DO_MODALS = frozenset("do does did can could will would should shall may might must".split())
COUNT_WORDS = frozenset("two three four five six seven eight nine ten several many both these those".split())
TITLES = frozenset("secretary president advisor adviser director senator minister ambassador chair chairman deputy "
                   "administrator coordinator spokesperson governor representative mr mr. ms ms. mrs dr dr.".split())
DOCUMENT_NOUNS = frozenset("strategy plan order act declaration memorandum framework policy directive law initiative "
                           "program programme report agreement partnership principles guidance roadmap blueprint "
                           "agenda compact charter treaty convention bill standard".split())
ORGANISATIONS = frozenset("department agency office council administration house commission board force command "
                          "bureau committee congress senate government ministry conference center centre group "
                          "states union nations institute".split())
