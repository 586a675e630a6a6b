"""tmdb stage (as published)."""

import requests
import tmdbv3api
