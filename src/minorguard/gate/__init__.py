"""The one check every front door calls: route, fast paths, identity, facts, the engine, settling,
reporting, metrics and the decision log, in one place."""
