"""pre-ner stage (as published)."""

import spacy
