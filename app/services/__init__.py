"""Domain logic: the only place rules live. Pages (via state), API routes and jobs call these functions."""
