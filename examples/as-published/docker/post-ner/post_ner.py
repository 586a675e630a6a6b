"""post-ner stage (as published)."""

import spacy
import rapidfuzz
import unidecode
