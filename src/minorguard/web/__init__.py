"""The HTTP pieces every front door shares: routes, the path a backend routes, request facts, bodies
and answers (problem+json, Minorguard-* headers) in zh-CN and en."""
