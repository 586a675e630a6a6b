"""The workspace: configuration, model, image graph, discovery and the caches of parsed files."""
