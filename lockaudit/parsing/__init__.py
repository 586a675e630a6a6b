"""Parsers for the files a workspace is made of; every item and every error carries file:line."""
